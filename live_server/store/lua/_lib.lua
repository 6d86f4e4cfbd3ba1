-- Shared helpers, prepended to every script when it is registered.

-- Give an event its sequence number, keep it in the room's history and publish it.
-- body: the event JSON without "seq" (an object: starts with '{' and has at least one key).
local function append_event(seq_key, events_key, channel, body, maxlen)
  local seq = redis.call('INCR', seq_key)
  local full = '{"seq":' .. seq .. ',' .. string.sub(body, 2)
  redis.call('XADD', events_key, 'MAXLEN', maxlen, seq .. '-1', 'e', full)
  redis.call('PUBLISH', channel, full)
  return seq
end

-- The room's state, or the reply that refuses a change to a missing or ended room.
local function open_room(meta_key)
  local state = redis.call('HGET', meta_key, 'state')
  if not state then
    return nil, {'not_found'}
  end
  if state == 'ended' then
    return nil, {'invalid_state', state}
  end
  return state, nil
end
