-- Record one delivery attempt of a webhook message: the delivery log entry, then delivered
-- (2xx), a retry at its time, or failed (the retry schedule spent). A failed delivery counts
-- toward the endpoint's consecutive failures and disables it at the limit; a delivered one
-- clears the count. Finished deliveries are kept (redeliver, duplicate suppression) up to a
-- bound, the oldest dropped first.
-- KEYS: 1 deliveries hash, 2 due zset, 3 finished zset, 4 log list, 5 state hash
-- ARGV: 1 message id, 2 the attempt's log entry (JSON), 3 outcome: delivered | retry | failed,
--       4 next attempt at (ms, retry), 5 now, 6 log entries kept, 7 finished deliveries kept,
--       8 failed deliveries before the endpoint is disabled (0: never), 9 the attempt's number
-- Reply: {state, disabled now (0/1)}, or {'gone'} / {'stale'} (another process recorded this
--        attempt after a lapsed lease)
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then
  return {'gone'}
end
local d = cjson.decode(raw)
local attempt = tonumber(ARGV[9])
if tonumber(d['attempts'] or 0) >= attempt then
  return {'stale'}
end
local now, outcome = tonumber(ARGV[5]), ARGV[3]
d['attempts'] = attempt
d['last'] = cjson.decode(ARGV[2])
redis.call('LPUSH', KEYS[4], ARGV[2])
redis.call('LTRIM', KEYS[4], 0, tonumber(ARGV[6]) - 1)
local disabled = 0
if outcome == 'retry' then
  d['state'], d['next_at'] = 'pending', tonumber(ARGV[4])
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
  redis.call('HSET', KEYS[5], 'last_failure_at', now)
else
  d['state'], d['next_at'] = outcome, 0
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('ZADD', KEYS[3], now, ARGV[1])
  if outcome == 'delivered' then
    redis.call('HSET', KEYS[5], 'fails', 0, 'last_success_at', now)
  else
    local fails = redis.call('HINCRBY', KEYS[5], 'fails', 1)
    redis.call('HSET', KEYS[5], 'last_failure_at', now)
    local limit = tonumber(ARGV[8])
    if limit > 0 and fails >= limit and redis.call('HGET', KEYS[5], 'enabled') ~= '0' then
      redis.call('HSET', KEYS[5], 'enabled', 0, 'disabled_reason', 'failing',
        'disabled_at', now)
      disabled = 1
    end
  end
end
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(d))
local extra = redis.call('ZCARD', KEYS[3]) - tonumber(ARGV[7])
if extra > 0 then
  local old = redis.call('ZRANGE', KEYS[3], 0, extra - 1)
  redis.call('ZREM', KEYS[3], unpack(old))
  redis.call('HDEL', KEYS[1], unpack(old))
end
return {d['state'], disabled}
