-- A transfer received on the other bucket: no longer pending on the paying side; with a memo,
-- the payer's idempotency key now answers the receiving step's answer.
-- KEYS: 1 transfers out, 2 transfers due, 3 memo hash
-- ARGV: 1 transfer id, 2 memo field ('' for none), 3 answer, 4 memo ttl ms
-- Reply: 1 when it was pending, 0 when already dropped
local was = redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if ARGV[2] ~= '' and was == 1 then
  redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])
  redis.call('PEXPIRE', KEYS[3], tonumber(ARGV[4]))
end
return was
