-- Move one packet along its clock: waiting → open at open_at; at expires_at, refund what is
-- left to the creator and finish it. Safe from every process at once: each step happens once.
-- KEYS: 1 balances, 2 ledger, 3 creator's recent entries, 4 packet hash, 5 shares list,
--       6 room's keyword packets hash, 7-10 the room's charity keys (terms, beneficiary
--       balances, earmark totals, earmark entries: store/charity.py)
-- ARGV: 1 now, 2 packet id, 3 recent max, 4 the charity terms version the earmark was
--       computed from, 5 the remainder it was computed from, 6 the earmark (cents out of the
--       refund), 7 its beneficiary ('' when the terms do not cover red packets), 8 room id
-- Reply: {'ok', what ('opened' | 'expired' | ''), next due ms (0: done), refund}
--        | {'gone'} | {'terms_changed'} (the earmark was computed on other terms or remainder)
local raw = redis.call('HGET', KEYS[4], 'json')
if not raw then
  return {'gone'}
end
local now = tonumber(ARGV[1])
local p = cjson.decode(raw)
local state = redis.call('HGET', KEYS[4], 'state')
if state == 'finished' then
  return {'ok', '', 0, 0}
end
if now >= tonumber(p['expires_at']) then
  local left = tonumber(redis.call('HGET', KEYS[4], 'left_amt'))
  if not charity_terms_seen(KEYS[7], ARGV[4]) or (ARGV[7] ~= '' and tostring(left) ~= ARGV[5]) then
    return {'terms_changed'}
  end
  if left > 0 then
    redis.call('HINCRBY', KEYS[1], p['creator_id'], left)
    ledger_move(KEYS[2], {KEYS[3]}, ARGV[3], ARGV[1], 'packet:' .. ARGV[2],
      'user:' .. p['creator_id'], left, 'refund', ARGV[2])
    if ARGV[7] ~= '' then
      charity_earmark({KEYS[7], KEYS[8], KEYS[9], KEYS[10]}, KEYS[1], KEYS[2], {KEYS[3]},
        ARGV[3], ARGV[1], p['creator_id'], ARGV[7], ARGV[6], 'red_packets', ARGV[2], left,
        ARGV[8])
    end
  end
  redis.call('DEL', KEYS[5])
  redis.call('HSET', KEYS[4], 'state', 'finished', 'reason', 'expired', 'finished_at', ARGV[1],
    'left_amt', 0, 'refunded', left)
  redis.call('HDEL', KEYS[6], ARGV[2])
  return {'ok', 'expired', 0, left}
end
if state == 'waiting' and now >= tonumber(p['open_at']) then
  redis.call('HSET', KEYS[4], 'state', 'open')
  return {'ok', 'opened', p['expires_at'], 0}
end
if state == 'waiting' then
  return {'ok', '', p['open_at'], 0}
end
return {'ok', '', p['expires_at'], 0}
