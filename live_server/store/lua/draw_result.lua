-- Record a draw's result once (drawing → drawn), give a coupon prize's copies to the winners
-- and free the copies nobody won, or write each winner of a product prize a zero-price order
-- (reserved until its claim deadline: claimed with an address, else it expires and the unit
-- goes back like any unpaid order's) and give the units nobody won back to the allotment; then
-- append the `draw_result` event. The result is a pure function of the frozen entrants and the
-- seed, so two processes that computed it at once computed the same; the first to get here
-- records it, the other changes nothing.
-- KEYS: 1 draw hash, 2 coupons hash, 3 coupon claims hash, 4 seq, 5 events, 6 allotment,
--       7 orders, 8 order list, 9 order stream, 10 bought
-- ARGV: 1 now, 2 result JSON, 3 coupon id ('' for none), 4 winners wanted, 5 channel,
--       6 maxlen, 7 the `draw_result` event (JSON object without seq), 8 product prize's stock
--       field ('' for none), 9 claim within (ms), 10 order stream max, 11.. the winners
-- Reply: {'ok', seq, order JSON...} | {'done'}
local FIRST = 11
if redis.call('HGET', KEYS[1], 'state') ~= 'drawing' then
  return {'done'}
end
redis.call('HSET', KEYS[1], 'state', 'drawn', 'result', ARGV[2])
local winners = #ARGV - FIRST + 1
local now = tonumber(ARGV[1])
local orders = {}
if ARGV[8] ~= '' then
  local d = cjson.decode(redis.call('HGET', KEYS[1], 'json'))
  local p = d['prize']
  for i = FIRST, #ARGV do
    local user, n = ARGV[i], i - FIRST + 1
    local oid = 'o.' .. d['room_id'] .. '.' .. d['id'] .. '-' .. n
    local ojson = cjson.encode({
      id = oid, room_id = d['room_id'], product_id = p['product_id'],
      variant_id = p['variant_id'], variant = p['variant'], sale_id = cjson.null,
      title = p['title'], buyer = user, quantity = 1, unit_price = 0, subtotal = 0,
      discount = 0, coupon_id = cjson.null, amount = 0, currency = p['currency'],
      commission_bp = 0, commission = 0, state = 'reserved', created_at = now,
      updated_at = now, expires_at = now + tonumber(ARGV[9]),
      idempotency_key = 'draw.' .. d['id'] .. '.' .. n, address = cjson.null,
      draw_id = d['id']})
    redis.call('HSET', KEYS[7], oid, ojson)
    redis.call('ZADD', KEYS[8], now, oid)
    redis.call('HINCRBY', KEYS[10], p['product_id'] .. ':' .. user, 1)
    redis.call('XADD', KEYS[9], 'MAXLEN', '~', ARGV[10], '*', 'type', 'reserved', 'order', ojson)
    publish_event(ARGV[5], ev_order(ARGV[1], ojson, user))
    orders[#orders + 1] = ojson
  end
  local unused = tonumber(ARGV[4]) - winners
  if unused > 0 then
    redis.call('HINCRBY', KEYS[6], ARGV[8], unused)
  end
end
if ARGV[3] ~= '' then
  for i = FIRST, #ARGV do
    redis.call('HINCRBY', KEYS[3], ARGV[3] .. ':' .. ARGV[i], 1)
  end
  local unused = tonumber(ARGV[4]) - winners
  local raw = redis.call('HGET', KEYS[2], ARGV[3])
  if unused > 0 and raw then
    local c = cjson.decode(raw)
    c.claimed = math.max(0, tonumber(c.claimed) - unused)
    redis.call('HSET', KEYS[2], ARGV[3], coupon_json(c, 'store'))
  end
end
return {'ok', append_event(KEYS[4], KEYS[5], ARGV[5], ARGV[6], 'draw_result', ARGV[7]),
        unpack(orders)}
