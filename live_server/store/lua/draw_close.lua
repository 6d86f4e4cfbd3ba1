-- Freeze a draw's entries once its end_at has passed (open → drawing) and answer what the
-- draw needs: its seed and the frozen entrant set. Safe from every process at once: a draw
-- closes once, and a draw already drawing (its drawer died) answers the same frozen set.
-- KEYS: 1 draw hash, 2 entrant set, 3 room's keyword draws hash
-- ARGV: 1 now, 2 draw id
-- Reply: {'drawing', seed, entrant...} | {'not_due', end_at} | {'drawn'} | {'gone'}
local f = redis.call('HMGET', KEYS[1], 'state', 'end_at', 'seed')
if not f[1] then
  return {'gone'}
end
if f[1] == 'drawn' then
  return {'drawn'}
end
if f[1] == 'open' then
  if tonumber(ARGV[1]) < tonumber(f[2]) then
    return {'not_due', f[2]}
  end
  redis.call('HSET', KEYS[1], 'state', 'drawing')
  redis.call('HDEL', KEYS[3], ARGV[2])
end
local reply = {'drawing', f[3]}
for _, uid in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  reply[#reply + 1] = uid
end
return reply
