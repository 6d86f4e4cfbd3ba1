-- Open a live auction of one variant of a shelf product (docs/ARCHITECTURE.md, "Auctions").
-- One auction open per room: refused 'exists' while the room's current auction is open. The
-- auction holds one unit taken from the room's allotment here ('need' when the allotment has
-- none: the caller draws one from the catalogue and runs this again). The auction JSON is
-- public as it is (the bidders' maxima live in the auction's bidders hash).
-- KEYS: 1 meta, 2 shelf, 3 products, 4 allotment, 5 auctions, 6 current, 7 seq, 8 events
-- ARGV: 1 channel, 2 maxlen, 3 now, 4 auction id, 5 product id, 6 variant id ('' = the only
--       one), 7 the creator's fields (JSON: start_price, increments, duration_ms, mode,
--       snipe_ms, start_at, end_at), 8 room id
-- Reply: {'ok', auction JSON} | {'not_found'} | {'invalid_state', state} | {'not_on_shelf'}
--        | {'taken_down'} | {'bad_variant', why} | {'exists', auction id}
--        | {'need', creator id, variant id}
local _, refused = open_room(KEYS[1])
if refused then
  return refused
end
local pid = ARGV[5]
if not redis.call('LPOS', KEYS[2], pid) then
  return {'not_on_shelf'}
end
local product = cjson.decode(redis.call('HGET', KEYS[3], pid))
if product['status'] ~= 'on_sale' then
  return {'taken_down'}
end
local current = redis.call('GET', KEYS[6])
if current then
  local prior = redis.call('HGET', KEYS[5], current)
  if prior and cjson.decode(prior)['state'] == 'open' then
    return {'exists', current}
  end
end
local variants = product['variants'] or {{id = 'v0', options = {}, price_delta = 0}}
local variant
if ARGV[6] == '' then
  if #variants ~= 1 then
    return {'bad_variant', 'required'}
  end
  variant = variants[1]
else
  for _, v in ipairs(variants) do
    if v['id'] == ARGV[6] then variant = v end
  end
  if not variant then
    return {'bad_variant', 'unknown'}
  end
end
local field = pid .. ':' .. variant['id']
if tonumber(redis.call('HGET', KEYS[4], field) or '0') < 1 then
  return {'need', product['creator_id'], variant['id']}
end
redis.call('HINCRBY', KEYS[4], field, -1)

local a = cjson.decode(ARGV[7])
a['id'], a['room_id'], a['product_id'], a['variant_id'] = ARGV[4], ARGV[8], pid, variant['id']
a['variant'] = variant['options']
a['title'], a['currency'] = product['title'], product['currency']
a['image_url'] = (variant['image_url'] ~= nil and variant['image_url'] ~= '')
  and variant['image_url'] or (product['image_url'] or '')
a['creator_id'] = product['creator_id']
a['state'], a['price'], a['bids'], a['held'], a['offers'], a['extended'] = 'open', 0, 0, 1, 0, 0
a['leader'], a['leader_name'], a['order_id'], a['reason'] = cjson.null, cjson.null, cjson.null, ''
local encoded = cjson.encode(a)
redis.call('HSET', KEYS[5], ARGV[4], encoded)
redis.call('SET', KEYS[6], ARGV[4])
append_event(KEYS[7], KEYS[8], ARGV[1], ARGV[2], ev_auction_started(ARGV[3], encoded, ARGV[3]))
return {'ok', encoded}
