-- Queue one message for one webhook endpoint, once: a message id already queued (pending or
-- finished and still kept) is left alone, so reading the same order event twice, or a retried
-- emit, never sends it twice. A disabled endpoint takes nothing.
-- KEYS: 1 the endpoint's deliveries (hash: message id → delivery JSON), 2 its due zset,
--       3 its state hash
-- ARGV: 1 message id, 2 delivery JSON, 3 now (ms)
-- Reply: 1 queued, 0 already there (or the endpoint is disabled)
if redis.call('HGET', KEYS[3], 'enabled') == '0' then
  return 0
end
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then
  return 0
end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return 1
