-- Delete a chat message: it must still be in the history; marks it and announces the deletion.
-- KEYS: 1 events, 2 deleted set, 3 seq
-- ARGV: 1 channel, 2 maxlen, 3 event type ('chat_deleted'), 4 event body, 5 target seq
-- Reply: {'ok', seq, original event json} | {'not_found'} (no such entry, or not chat)
--        | {'already'}
local id = ARGV[5] .. '-1'
local found = redis.call('XRANGE', KEYS[1], id, id)
if #found == 0 then
  return {'not_found'}
end
local kind, original = stored_event(found[1][2])
if kind ~= 'chat' then
  return {'not_found'}
end
if redis.call('SADD', KEYS[2], ARGV[5]) == 0 then
  return {'already'}
end
return {'ok', append_event(KEYS[3], KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4]), original}
