-- One purchase, atomically: idempotency key unseen, product on sale, sale window open, stock
-- left, buyer under the limit → reserve the units and write the order. Every check and write
-- is under the room's hash tag, so all processes see one order of purchases.
-- KEYS: 1 meta, 2 products, 3 sales, 4 left, 5 bought, 6 idem, 7 orders, 8 order list,
--       9 order stream, 10 seq, 11 events
-- ARGV: 1 channel, 2 maxlen, 3 now, 4 buyer, 5 product id, 6 quantity, 7 idempotency key,
--       8 new order id, 9 reservation ttl ms, 10 sample every, 11 order stream max,
--       12 buyer name (JSON string), 13 room id
-- Reply: {'ok', order JSON, left} | {'dup', order JSON} | {'not_found', what} | {'taken_down'}
--        | {'not_started', start_at} | {'sale_ended', end_at} | {'sold_out'}
--        | {'insufficient_stock', left} | {'limit_reached', may still buy}
local now, uid, pid, qty = tonumber(ARGV[3]), ARGV[4], ARGV[5], tonumber(ARGV[6])
local ikey = uid .. ':' .. ARGV[7]
local prior = redis.call('HGET', KEYS[6], ikey)
if prior then
  return {'dup', redis.call('HGET', KEYS[7], prior)}
end
local room_state = redis.call('HGET', KEYS[1], 'state')
if not room_state then
  return {'not_found', 'room'}
end
local pjson = redis.call('HGET', KEYS[2], pid)
if not pjson then
  return {'not_found', 'product'}
end
local product = cjson.decode(pjson)
if product['status'] ~= 'on_sale' then
  return {'taken_down'}
end
local sjson = redis.call('HGET', KEYS[3], pid)
if not sjson then
  return {'not_started', 0}
end
local sale = cjson.decode(sjson)
if sale['state'] == 'closed' then
  if sale['reason'] == 'sold_out' then
    return {'sold_out'}
  end
  return {'sale_ended', sale['end_at']}
end
if now < tonumber(sale['start_at']) then
  return {'not_started', sale['start_at']}
end
if now >= tonumber(sale['end_at']) or room_state == 'ended' then
  return {'sale_ended', sale['end_at']}
end
local left = tonumber(redis.call('HGET', KEYS[4], pid) or '0')
if left <= 0 then
  return {'sold_out'}
end
if left < qty then
  return {'insufficient_stock', left}
end
local bkey = pid .. ':' .. uid
local had = tonumber(redis.call('HGET', KEYS[5], bkey) or '0')
local limit = tonumber(product['per_buyer_limit'])
if had + qty > limit then
  return {'limit_reached', math.max(0, limit - had)}
end
left = redis.call('HINCRBY', KEYS[4], pid, -qty)
redis.call('HINCRBY', KEYS[5], bkey, qty)
local price = tonumber(sale['price'])
local order = {
  id = ARGV[8], room_id = ARGV[13], product_id = pid, sale_id = sale['id'],
  title = product['title'], buyer = uid, quantity = qty, unit_price = price,
  amount = price * qty, currency = sale['currency'],
  commission_bp = tonumber(redis.call('HGET', KEYS[2], 'bp:' .. pid) or '0'), commission = 0,
  state = 'reserved', created_at = now, updated_at = now,
  expires_at = now + tonumber(ARGV[9]), idempotency_key = ARGV[7],
}
local ojson = cjson.encode(order)
redis.call('HSET', KEYS[7], ARGV[8], ojson)
redis.call('ZADD', KEYS[8], now, ARGV[8])
redis.call('HSET', KEYS[6], ikey, ARGV[8])
redis.call('XADD', KEYS[9], 'MAXLEN', '~', ARGV[11], '*', 'type', 'reserved', 'order', ojson)
-- stock left: unsequenced, coalesced per room and product by each process's hub
publish_event(ARGV[1], ev_stock(ARGV[3], pid, left))
local n = redis.call('HINCRBY', KEYS[4], 'n:' .. pid, 1)
if (n - 1) % tonumber(ARGV[10]) == 0 then  -- "someone just bought": lossy, sampled
  publish_event(ARGV[1], ev_bought(ARGV[3], pid, ARGV[12], qty))
end
if left == 0 then
  sale['state'], sale['reason'] = 'closed', 'sold_out'
  local encoded = cjson.encode(sale)
  redis.call('HSET', KEYS[3], pid, encoded)
  append_event(KEYS[10], KEYS[11], ARGV[1], ARGV[2],
    ev_sale_ended(ARGV[3], encoded, 0, 'sold_out'))
end
return {'ok', ojson, left}
