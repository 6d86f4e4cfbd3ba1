-- Set or delete one field of a room hash (mutes, bans) and announce it as a sequenced event.
-- KEYS: 1 meta, 2 the hash, 3 seq, 4 events
-- ARGV: 1 channel, 2 maxlen, 3 event type, 4 event body, 5 'set' | 'del', 6 field,
--       7 value (for set)
-- Reply: {'ok', seq} | {'not_found'}  (no room, or 'del' of a field that is not there)
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {'not_found'}
end
if ARGV[5] == 'set' then
  redis.call('HSET', KEYS[2], ARGV[6], ARGV[7])
elseif redis.call('HDEL', KEYS[2], ARGV[6]) == 0 then
  return {'not_found'}
end
return {'ok', append_event(KEYS[3], KEYS[4], ARGV[1], ARGV[2], ARGV[3], ARGV[4])}
