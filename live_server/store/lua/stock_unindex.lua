-- Forget a holder in a due schedule only if nobody touched it since this process claimed it
-- (a transfer starting meanwhile moved its time): one key, compare and remove.
-- KEYS: 1 the schedule zset
-- ARGV: 1 member, 2 the time this process's claim gave it
-- Reply: 1 removed | 0 kept
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) == tonumber(ARGV[2]) then
  return redis.call('ZREM', KEYS[1], ARGV[1])
end
return 0
