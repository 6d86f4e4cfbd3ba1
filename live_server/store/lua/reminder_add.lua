-- Subscribe a user to a scheduled room's start (show reminders), only while it is scheduled:
-- the state check and the add are one step, so no reminder is added after the start was sent.
-- KEYS: 1 room meta, 2 the room's reminders set
-- ARGV: 1 user id
-- Reply: {'ok', added (0/1), subscribers} | {'not_found'} | {'invalid_state', state}
local state = redis.call('HGET', KEYS[1], 'state')
if not state then
  return {'not_found'}
end
if state ~= 'scheduled' then
  return {'invalid_state', state}
end
local added = redis.call('SADD', KEYS[2], ARGV[1])
return {'ok', added, redis.call('SCARD', KEYS[2])}
