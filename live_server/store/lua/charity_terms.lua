-- Set (or clear) a room's charity terms, unless proceeds were earmarked under them already.
-- KEYS: 1 the room's terms hash, 2 the charity rooms index (zset room → first set)
-- ARGV: 1 terms JSON ('' clears them), 2 room id, 3 creator, 4 now
-- Reply: {'ok', version} | {'locked', terms JSON}
if redis.call('HGET', KEYS[1], 'locked') == '1' then
  return {'locked', redis.call('HGET', KEYS[1], 'json') or ''}
end
local version = redis.call('HINCRBY', KEYS[1], 'version', 1)
if ARGV[1] == '' then
  redis.call('HDEL', KEYS[1], 'json', 'set_at')
  redis.call('ZREM', KEYS[2], ARGV[2])
else
  redis.call('HSET', KEYS[1], 'json', ARGV[1], 'creator', ARGV[3], 'set_at', ARGV[4])
  redis.call('ZADD', KEYS[2], 'NX', ARGV[4], ARGV[2])
end
return {'ok', version}
