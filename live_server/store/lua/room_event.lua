-- Append one guaranteed event to a room (for services whose own state lives elsewhere).
-- KEYS: 1 meta, 2 seq, 3 events
-- ARGV: 1 channel, 2 maxlen, 3 event type, 4 event body (JSON object without seq)
-- Reply: {'ok', seq} | {'not_found'}
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {'not_found'}
end
return {'ok', append_event(KEYS[2], KEYS[3], ARGV[1], ARGV[2], ARGV[3], ARGV[4])}
