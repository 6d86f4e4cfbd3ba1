-- Move one packet along its clock, on the packet's own slot: waiting → open at open_at; at
-- expires_at, finish it and record what is left as the refund pending out of the escrow
-- (`:out`, `~refund` → cents|now; `rp_credit.lua` pays it to the creator on their bucket).
-- Safe from every process at once: each step happens once.
-- KEYS: 1 packet hash, 2 shares list, 3 pending transfers out hash
-- ARGV: 1 now, 2 packet id
-- Reply: {'ok', what ('opened' | 'expired' | ''), next due ms (0: done), refund}
--        | {'gone'}
local raw = redis.call('HGET', KEYS[1], 'json')
if not raw then
  return {'gone'}
end
local now = tonumber(ARGV[1])
local p = cjson.decode(raw)
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'finished' then
  return {'ok', '', 0, 0}
end
if now >= tonumber(p['expires_at']) then
  local left = tonumber(redis.call('HGET', KEYS[1], 'left_amt'))
  if left > 0 then
    redis.call('HSET', KEYS[3], '~refund', left .. '|' .. ARGV[1])
  end
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'state', 'finished', 'reason', 'expired', 'finished_at', ARGV[1],
    'left_amt', 0, 'refunded', left)
  return {'ok', 'expired', 0, left}
end
if state == 'waiting' and now >= tonumber(p['open_at']) then
  redis.call('HSET', KEYS[1], 'state', 'open')
  return {'ok', 'opened', p['expires_at'], 0}
end
if state == 'waiting' then
  return {'ok', '', p['open_at'], 0}
end
return {'ok', '', p['expires_at'], 0}
