-- Join a creator's fan club, on the creator's wallet bucket: pay the fee from the member's
-- wallet to the creator's, with its ledger entry, and record the membership, atomically.
-- Transfer mode (ARGV[6] a transfer id: the member's wallet is on another bucket, where
-- xfer_hold.lua already took the fee, store/transfers.py): the transfer id seen before answers
-- its first answer ('seen'); else the fee comes from `xfer:<id>` and the answer is recorded in
-- the bucket's transfers in: 'ok|<joined at>', or 'refused|member' for a member already (final:
-- the fee goes back to the member).
-- KEYS: 1 balances, 2 ledger, 3 member's recent entries (not touched in transfer mode),
--       4 creator's recent entries, 5 the creator's fan club hash, 6 the bucket's transfers in
-- ARGV: 1 now, 2 member, 3 creator, 4 fee (cents, ≥ 0), 5 recent max, 6 transfer id ('' for
--       the one-script join)
-- Reply: {'ok', member's balance (0 in transfer mode)} | {'member'}
--        | {'insufficient_funds', balance} | {'seen', first answer}
local xfer = ARGV[6]
if xfer ~= '' then
  local first = xfer_seen(KEYS[6], xfer)
  if first then
    return {'seen', first}
  end
end
if redis.call('HEXISTS', KEYS[5], ARGV[2]) == 1 then
  xfer_mark(KEYS[6], xfer, 'refused|member')
  return {'member'}
end
local fee = tonumber(ARGV[4])
if xfer ~= '' then
  redis.call('HINCRBY', KEYS[1], ARGV[3], fee)
  ledger_move(KEYS[2], {KEYS[4]}, ARGV[5], ARGV[1], 'xfer:' .. xfer, 'user:' .. ARGV[3], fee,
    'fan_club', ARGV[3])
  redis.call('HSET', KEYS[5], ARGV[2], ARGV[1])
  xfer_mark(KEYS[6], xfer, 'ok|' .. ARGV[1])
  return {'ok', 0}
end
local bal = tonumber(redis.call('HGET', KEYS[1], ARGV[2]) or '0')
if bal < fee then
  return {'insufficient_funds', bal}
end
if fee > 0 then
  bal = redis.call('HINCRBY', KEYS[1], ARGV[2], -fee)
  redis.call('HINCRBY', KEYS[1], ARGV[3], fee)
  ledger_move(KEYS[2], {KEYS[3], KEYS[4]}, ARGV[5], ARGV[1], 'user:' .. ARGV[2],
    'user:' .. ARGV[3], fee, 'fan_club', ARGV[3])
end
redis.call('HSET', KEYS[5], ARGV[2], ARGV[1])
return {'ok', bal}
