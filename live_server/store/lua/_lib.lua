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

-- Append one money movement to the ledger (append-only, never trimmed) and to the recent list
-- of the user on each side. Accounts: 'user:<id>', 'packet:<id>', 'topup' (money brought in).
-- recent_keys: the recent-entries lists of the user accounts involved (0, 1 or 2 keys).
local function ledger_move(ledger_key, recent_keys, recent_max, now, from, to, amount, reason,
                           ref)
  local id = redis.call('XADD', ledger_key, '*', 'ts', now, 'from', from, 'to', to,
    'amount', amount, 'reason', reason, 'ref', ref)
  local entry = cjson.encode({id = id, ts = tonumber(now), from = from, to = to,
    amount = tonumber(amount), reason = reason, ref = ref})
  for _, key in ipairs(recent_keys) do
    redis.call('LPUSH', key, entry)
    redis.call('LTRIM', key, 0, tonumber(recent_max) - 1)
  end
  return id
end
