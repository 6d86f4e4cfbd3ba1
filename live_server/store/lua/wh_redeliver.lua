-- Send a finished webhook message again (its owner asked): same message id, a fresh retry
-- schedule, due now. A message still pending is refused (it is being sent already).
-- KEYS: 1 deliveries hash, 2 due zset, 3 finished zset
-- ARGV: 1 message id, 2 now (ms)
-- Reply: {'ok', delivery JSON} | {'not_found'} | {'invalid_state', state}
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then
  return {'not_found'}
end
local d = cjson.decode(raw)
if d['state'] == 'pending' then
  return {'invalid_state', 'pending'}
end
d['state'], d['next_at'], d['base'] = 'pending', tonumber(ARGV[2]), d['attempts']
local encoded = cjson.encode(d)
redis.call('HSET', KEYS[1], ARGV[1], encoded)
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return {'ok', encoded}
