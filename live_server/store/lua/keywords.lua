-- Replace a room's keyword list and action; announces the change (not the words).
-- KEYS: 1 meta, 2 keywords set, 3 seq, 4 events
-- ARGV: 1 channel, 2 maxlen, 3 event type ('keywords_updated'), 4 event body, 5 action,
--       6.. words
-- Reply: {'ok', seq} | {'not_found'}
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {'not_found'}
end
redis.call('DEL', KEYS[2])
if #ARGV >= 6 then
  redis.call('SADD', KEYS[2], unpack(ARGV, 6))
end
redis.call('HSET', KEYS[1], 'keyword_action', ARGV[5])
return {'ok', append_event(KEYS[3], KEYS[4], ARGV[1], ARGV[2], ARGV[3], ARGV[4])}
