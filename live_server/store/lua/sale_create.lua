-- Put a flash sale on a shelf product: a countdown event if it starts later, else it opens now.
-- Its units were drawn from the catalogue (stock_take.lua) by transfer ARGV[7]: this script is
-- that transfer's credit, once (a transfer the reconciler already credited to the room's
-- allotment refuses 'transfer_done'; the units are in the allotment then).
-- KEYS: 1 meta, 2 shelf, 3 products, 4 sales, 5 left, 6 seq, 7 events, 8 credited transfers
-- ARGV: 1 channel, 2 maxlen, 3 now, 4 product id, 5 sale JSON (state 'scheduled'), 6 stock,
--       7 transfer id, 8 credited ids kept ms
-- Reply: {'ok', seq, state} | {'not_found'} | {'invalid_state', state} | {'not_on_shelf'}
--        | {'taken_down'} | {'sale_exists'} | {'transfer_done'}
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
if redis.call('ZSCORE', KEYS[8], ARGV[7]) then
  return {'transfer_done'}
end
redis.call('ZREMRANGEBYSCORE', KEYS[8], '-inf', now - tonumber(ARGV[8]))
redis.call('ZADD', KEYS[8], now, ARGV[7])
local sale = cjson.decode(ARGV[5])
local opens_now = now >= tonumber(sale['start_at'])
if opens_now then
  sale['state'] = 'open'
end
local encoded = cjson.encode(sale)
redis.call('HSET', KEYS[4], pid, encoded)
redis.call('HSET', KEYS[5], pid, ARGV[6])
local seq
if opens_now then
  seq = append_event(KEYS[6], KEYS[7], ARGV[1], ARGV[2],
    ev_sale_started(ARGV[3], encoded, ARGV[6], ARGV[3]))
else
  seq = append_event(KEYS[6], KEYS[7], ARGV[1], ARGV[2],
    ev_sale_countdown(ARGV[3], encoded, ARGV[6], ARGV[3]))
end
return {'ok', seq, sale['state']}
