-- Move one sale along its clock (scheduled → open at start_at, open → closed at end_at), or
-- cancel it. Safe to run from every process at once: each transition happens exactly once.
-- A sale that closes with units left gives them back to the catalogue: they are taken and
-- recorded as a pending transfer in the same step (store/stock.py finishes it).
-- KEYS: 1 sales, 2 left, 3 seq, 4 events, 5 products, 6 the room's pending transfers
-- ARGV: 1 channel, 2 maxlen, 3 now, 4 product id, 5 sale id, 6 action ('tick' | 'cancel'),
--       7 room id
-- Reply: {'ok', next due ms (0: nothing left to do), state, give-back record JSON or ''}
--        | {'gone'}
local pid, now = ARGV[4], tonumber(ARGV[3])
local raw = redis.call('HGET', KEYS[1], pid)
if not raw then
  return {'gone'}
end
local sale = cjson.decode(raw)
if sale['id'] ~= ARGV[5] then
  return {'gone'}
end
local left = tonumber(redis.call('HGET', KEYS[2], pid) or '0')
local give_back = ''
-- Store the sale as it now is and announce it (the event built by ev_sale_*).
local function store_sale()
  local encoded = cjson.encode(sale)
  redis.call('HSET', KEYS[1], pid, encoded)
  return encoded
end
local function close(reason)
  sale['state'], sale['reason'] = 'closed', reason
  append_event(KEYS[3], KEYS[4], ARGV[1], ARGV[2],
    ev_sale_ended(ARGV[3], store_sale(), left, reason))
  if left > 0 then
    local card = cjson.decode(redis.call('HGET', KEYS[5], pid))
    local field = pid .. ':' .. (sale['variant_id'] or 'v0')
    local id = 'g.' .. sale['id']
    give_back = cjson.encode({id = id, to = 'u|' .. card['creator_id'], field = field,
                              out = 'out:' .. field, units = left, at = now})
    redis.call('HSET', KEYS[2], pid, 0)
    redis.call('HSET', KEYS[6], id, give_back)
    publish_event(ARGV[1], ev_stock(ARGV[3], pid, 0, sale['variant_id'], sale['id']))
  end
end
if sale['state'] ~= 'closed' then
  if ARGV[6] == 'cancel' then
    close('cancelled')
  elseif now >= tonumber(sale['end_at']) then
    close('ended')
  elseif sale['state'] == 'scheduled' and now >= tonumber(sale['start_at']) then
    sale['state'] = 'open'
    append_event(KEYS[3], KEYS[4], ARGV[1], ARGV[2],
      ev_sale_started(ARGV[3], store_sale(), left))
  end
end
local due = 0
if sale['state'] == 'scheduled' then
  due = tonumber(sale['start_at'])
elseif sale['state'] == 'open' then
  due = tonumber(sale['end_at'])
end
return {'ok', due, sale['state'], give_back}
