-- One point of a room's load history (the ops console's sparklines), at most one per slot.
-- KEYS: 1 the room's series zset (score = slot number, member = '<slot>:<online>:<chat>:<gmv>')
-- ARGV: 1 slot, 2 member, 3 points kept, 4 ttl ms
-- Reply: 1 written | 0 the slot already had its point (another process wrote it first)
local slot = tonumber(ARGV[1])
if redis.call('ZCOUNT', KEYS[1], slot, slot) > 0 then
  return 0
end
redis.call('ZADD', KEYS[1], slot, ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (slot - tonumber(ARGV[3]) + 1))
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
