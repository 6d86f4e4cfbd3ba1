-- Claim the due members of a schedule (a zset of member → due ms) for one process: each member
-- due at `now` is pushed to `now + lease` in the same step, so a process that looks a moment
-- later does not see it, and a process that dies while working on it leaves it to be claimed
-- again when the lease runs out. One key, so it runs on a cluster as well.
-- KEYS: 1 the schedule zset
-- ARGV: 1 now, 2 lease ms, 3 most members to claim
-- Reply: the claimed members, earliest due first
local found = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
local until_ms = tonumber(ARGV[1]) + tonumber(ARGV[2])
for _, member in ipairs(found) do
  redis.call('ZADD', KEYS[1], 'XX', until_ms, member)
end
return found
