-- The credit step of a transfer out of a packet's escrow, on the payee's wallet bucket: a
-- grab's share to its grabber (the grabber's bucket), or the refund of what is left to the
-- creator (the creator's bucket; in a charity show covering red packets, with the refund's
-- earmark). Idempotent by the transfer's id (the packet and the field: the grabber's id, or
-- `~refund`): run twice, it credits once. The marks of one packet are spread over the
-- buckets of its payees (each field on its payee's).
-- KEYS: 1 balances, 2 ledger, 3 the payee's recent entries, 4 the packet's credited transfers
--       hash (this bucket's), 5-8 the room's charity keys on this bucket (terms, beneficiary
--       balances, earmark totals, earmark entries: store/charity.py; a grab passes them too,
--       unused)
-- ARGV: 1 now, 2 packet id, 3 payee (user id), 4 field (grabber's id | '~refund'), 5 cents,
--       6 recent max, 7 the charity terms version the earmark was computed from, 8 the
--       remainder it was computed from, 9 the earmark (cents), 10 its beneficiary ('' when
--       none), 11 room id
-- Reply: {'ok', 1 (credited now) | 0 (credited before)} | {'terms_changed'}
if redis.call('HEXISTS', KEYS[4], ARGV[4]) == 1 then
  return {'ok', 0}
end
local refund = ARGV[4] == '~refund'
if refund and (not charity_terms_seen(KEYS[5], ARGV[7])
    or (ARGV[10] ~= '' and ARGV[8] ~= ARGV[5])) then
  return {'terms_changed'}
end
redis.call('HSET', KEYS[4], ARGV[4], ARGV[5])
redis.call('HINCRBY', KEYS[1], ARGV[3], ARGV[5])
ledger_move(KEYS[2], {KEYS[3]}, ARGV[6], ARGV[1], 'packet:' .. ARGV[2], 'user:' .. ARGV[3],
  ARGV[5], refund and 'refund' or 'grab', ARGV[2])
if refund and ARGV[10] ~= '' then
  charity_earmark({KEYS[5], KEYS[6], KEYS[7], KEYS[8]}, KEYS[1], KEYS[2], {KEYS[3]}, ARGV[6],
    ARGV[1], ARGV[3], ARGV[10], ARGV[9], 'red_packets', ARGV[2], ARGV[5], ARGV[11])
end
return {'ok', 1}
