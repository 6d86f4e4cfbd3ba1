-- Add intimacy points of a user toward a creator, capped per (user, source) per day.
-- KEYS: 1 totals zset (user → points), 2 the day's hash (user → points earned that day,
--       "user|source" → points earned that day from that source)
-- ARGV: 1 user, 2 points, 3 the source's daily cap, 4 ttl of the day's hash (s), 5 source
-- Reply: {added, total}
local field = ARGV[1] .. '|' .. ARGV[5]
local today = tonumber(redis.call('HGET', KEYS[2], field) or '0')
local add = math.min(tonumber(ARGV[2]), tonumber(ARGV[3]) - today)
if add <= 0 then
  return {0, tonumber(redis.call('ZSCORE', KEYS[1], ARGV[1]) or '0')}
end
redis.call('HINCRBY', KEYS[2], field, add)
redis.call('HINCRBY', KEYS[2], ARGV[1], add)
redis.call('EXPIRE', KEYS[2], ARGV[4])
local total = redis.call('ZINCRBY', KEYS[1], add, ARGV[1])
return {add, tonumber(total)}
