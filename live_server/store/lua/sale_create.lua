-- Put a flash sale on a shelf product: a countdown event if it starts later, else it opens now.
-- KEYS: 1 meta, 2 shelf, 3 products, 4 sales, 5 left, 6 seq, 7 events
-- ARGV: 1 channel, 2 maxlen, 3 now, 4 product id, 5 sale JSON (state 'scheduled'), 6 stock
-- Reply: {'ok', seq, state} | {'not_found'} | {'invalid_state', state} | {'not_on_shelf'}
--        | {'taken_down'} | {'sale_exists'}
local state, refused = open_room(KEYS[1])
if refused then
  return refused
end
local pid, now = ARGV[4], tonumber(ARGV[3])
if not redis.call('LPOS', KEYS[2], pid) then
  return {'not_on_shelf'}
end
local product = cjson.decode(redis.call('HGET', KEYS[3], pid))
if product['status'] ~= 'on_sale' then
  return {'taken_down'}
end
local prior = redis.call('HGET', KEYS[4], pid)
if prior and cjson.decode(prior)['state'] ~= 'closed' then
  return {'sale_exists'}
end
local sale = cjson.decode(ARGV[5])
local kind = 'sale_countdown'
if now >= tonumber(sale['start_at']) then
  sale['state'] = 'open'
  kind = 'sale_started'
end
local encoded = cjson.encode(sale)
redis.call('HSET', KEYS[4], pid, encoded)
redis.call('HSET', KEYS[5], pid, ARGV[6])
local body = '{"type":"' .. kind .. '","ts":' .. ARGV[3] .. ',"data":{"sale":' .. encoded ..
  ',"left":' .. ARGV[6] .. ',"server_time":' .. ARGV[3] .. '}}'
return {'ok', append_event(KEYS[6], KEYS[7], ARGV[1], body, ARGV[2]), sale['state']}
