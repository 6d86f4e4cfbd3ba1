-- Change room fields (optionally only from allowed states) and announce it as a sequenced event.
-- KEYS: 1 meta, 2 seq, 3 events
-- ARGV: 1 channel, 2 maxlen, 3 event type, 4 event body ('' for no event), 5 allowed states
--       ('' = any, else comma-separated), 6.. field/value pairs to HSET
-- Reply: {'ok', seq} | {'not_found'} | {'invalid_state', current_state}
local state = redis.call('HGET', KEYS[1], 'state')
if not state then
  return {'not_found'}
end
if ARGV[5] ~= '' and not string.find(',' .. ARGV[5] .. ',', ',' .. state .. ',', 1, true) then
  return {'invalid_state', state}
end
if #ARGV >= 7 then
  redis.call('HSET', KEYS[1], unpack(ARGV, 6))
end
local seq = 0
if ARGV[4] ~= '' then
  seq = append_event(KEYS[2], KEYS[3], ARGV[1], ARGV[2], ARGV[3], ARGV[4])
end
return {'ok', seq}
