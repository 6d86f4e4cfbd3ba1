-- One purchase, atomically, or its quote (ARGV[18] 'quote': the same checks and arithmetic,
-- nothing written). Every check and write is under the room's hash tag, so all processes see
-- one order of purchases (docs/ARCHITECTURE.md, "Life of one purchase").
-- The flash-sale path applies when ARGV[15] names the sale, or when the product's sale is open
-- for the chosen variant: the sale's price and units. Otherwise the ordinary path: the live
-- price plus the variant's price_delta, units from the room's allotment; an allotment short of
-- the quantity answers 'need' with the shortage, which the caller draws from the catalogue
-- before running the purchase again. Coupons: ARGV[16] a claimed coupon id, or 'best'.
-- A buy naming a sale without a variant buys the sale's variant.
-- KEYS: 1 meta, 2 shelf, 3 products, 4 sales, 5 left, 6 allotment, 7 bought, 8 idem, 9 orders,
--       10 order list, 11 order stream, 12 seq, 13 events, 14 coupons, 15 coupon claims,
--       16 coupon uses
-- ARGV: 1 channel, 2 maxlen, 3 now, 4 buyer, 5 product id, 6 variant id ('' = the only one),
--       7 quantity, 8 idempotency key, 9 new order id, 10 reservation ttl ms, 11 sample every,
--       12 order stream max, 13 buyer name (JSON string), 14 room id, 15 sale id ('' = none),
--       16 coupon ('' | id | 'best'), 17 expected amount ('' = none), 18 'buy' | 'quote',
--       19 the buyer's address (JSON, '' = none)
-- Reply: {'ok', order JSON, left} | {'dup', order JSON} | {'quote', quote JSON}
--        | {'need', shortage, units in the allotment, creator id, variant id}
--        | {'not_found', what} | {'taken_down'} | {'invalid_state', state}
--        | {'bad_variant', why} | {'not_started', start_at} | {'sale_ended', end_at}
--        | {'sold_out'} | {'insufficient_stock', left} | {'limit_reached', may still buy}
--        | {'coupon_unusable', reason} | {'price_changed', amount}
local now, uid, pid, qty = tonumber(ARGV[3]), ARGV[4], ARGV[5], tonumber(ARGV[7])
local quoting = ARGV[18] == 'quote'
local ikey = uid .. ':' .. ARGV[8]
if not quoting then
  local prior = redis.call('HGET', KEYS[8], ikey)
  if prior then
    return {'dup', redis.call('HGET', KEYS[9], prior)}
  end
end
local room_state = redis.call('HGET', KEYS[1], 'state')
if not room_state then
  return {'not_found', 'room'}
end
local pjson = redis.call('HGET', KEYS[3], pid)
if not pjson or not redis.call('LPOS', KEYS[2], pid) then
  return {'not_found', 'product'}
end
local product = cjson.decode(pjson)
if product['status'] ~= 'on_sale' then
  return {'taken_down'}
end

-- the variant: named, or the only one (a product stored before variants has 'v0')
local variants = product['variants'] or {{id = 'v0', options = {}, price_delta = 0}}
local variant
local wanted = ARGV[6]
if wanted == '' and ARGV[15] ~= '' and #variants ~= 1 then
  -- a flash sale's button: the sale's variant
  local named = redis.call('HGET', KEYS[4], pid)
  if named and cjson.decode(named)['id'] == ARGV[15] then
    wanted = cjson.decode(named)['variant_id'] or ''
  end
end
if wanted == '' then
  if #variants ~= 1 then
    return {'bad_variant', 'required'}
  end
  variant = variants[1]
else
  for _, v in ipairs(variants) do
    if v['id'] == wanted then variant = v end
  end
  if not variant then
    return {'bad_variant', 'unknown'}
  end
end
local vid = variant['id']
local field = pid .. ':' .. vid

-- which path: the named sale, or the product's sale open for this variant
local sale
local sjson = redis.call('HGET', KEYS[4], pid)
if sjson then
  sale = cjson.decode(sjson)
end
local on_sale = false
if ARGV[15] ~= '' then
  if not sale or sale['id'] ~= ARGV[15] then
    return {'sale_ended', 0}
  end
  if (sale['variant_id'] or vid) ~= vid then
    return {'bad_variant', 'not_the_sale'}
  end
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
  on_sale = true
elseif sale and sale['state'] ~= 'closed' and (sale['variant_id'] or vid) == vid
    and now >= tonumber(sale['start_at']) and now < tonumber(sale['end_at']) then
  on_sale = true
end
if room_state == 'ended' then
  return {'invalid_state', 'ended'}
end

-- units: the sale's, or the room's allotment
local left
if on_sale then
  left = tonumber(redis.call('HGET', KEYS[5], pid) or '0')
  if left <= 0 then
    return {'sold_out'}
  end
  if left < qty then
    return {'insufficient_stock', left}
  end
else
  left = tonumber(redis.call('HGET', KEYS[6], field) or '0')
end

-- the buyer's limit: per product, across its variants
local bkey = pid .. ':' .. uid
local had = tonumber(redis.call('HGET', KEYS[7], bkey) or '0')
local limit = tonumber(product['per_buyer_limit'])
if had + qty > limit then
  return {'limit_reached', math.max(0, limit - had)}
end

-- the price
local price
if on_sale then
  price = tonumber(sale['price'])
else
  price = math.max(0, tonumber(product['live_price']) + tonumber(variant['price_delta'] or 0))
end
local subtotal = price * qty

-- coupons: a claimed copy not used yet, in its window, active, this product, the minimum spend
local function claimed_left(cid)
  local ck = cid .. ':' .. uid
  return tonumber(redis.call('HGET', KEYS[15], ck) or '0')
         - tonumber(redis.call('HGET', KEYS[16], ck) or '0')
end
local function judge(c)
  local kind = c['kind']
  local off
  if kind == 'amount' then
    off = tonumber(c['amount_off'])
  else
    local x = subtotal * tonumber(c['percent_bp'])
    off = math.min((x - x % 10000) / 10000, tonumber(c['max_off']))
  end
  off = math.min(off, subtotal)
  if claimed_left(c['id']) <= 0 then
    return off, 'not_claimed'
  end
  if c['state'] ~= 'active' then
    return off, 'stopped'
  end
  if now < tonumber(c['start_at']) then
    return off, 'not_started'
  end
  if now >= tonumber(c['end_at']) then
    return off, 'ended'
  end
  local ids = c['product_ids'] or {}
  if #ids > 0 then
    local valid = false
    for _, p in ipairs(ids) do
      if p == pid then valid = true end
    end
    if not valid then
      return off, 'other_products'
    end
  end
  if subtotal < tonumber(c['min_spend'] or 0) then
    return off, 'min_spend'
  end
  return off, ''
end
local coupon, discount = nil, 0
local listed = {}
if ARGV[16] == 'best' or quoting then
  local all = redis.call('HGETALL', KEYS[14])
  for i = 1, #all, 2 do
    local c = cjson.decode(all[i + 1])
    local ck = c['id'] .. ':' .. uid
    if tonumber(redis.call('HGET', KEYS[15], ck) or '0') > 0 then
      local off, why = judge(c)
      listed[#listed + 1] = {id = c['id'], title = c['title'], discount = off,
                             usable = why == '', reason = why, end_at = c['end_at']}
      if ARGV[16] == 'best' and why == '' and (off > discount or (off == discount and coupon
          and (tonumber(c['end_at']) < tonumber(coupon['end_at'])
               or (c['end_at'] == coupon['end_at'] and c['id'] < coupon['id'])))) then
        coupon, discount = c, off
      end
    end
  end
end
if ARGV[16] ~= '' and ARGV[16] ~= 'best' then
  local cjson_ = redis.call('HGET', KEYS[14], ARGV[16])
  if not cjson_ then
    return {'coupon_unusable', 'not_claimed'}
  end
  local c = cjson.decode(cjson_)
  local off, why = judge(c)
  if why ~= '' then
    return {'coupon_unusable', why}
  end
  coupon, discount = c, off
end
local amount = subtotal - discount
if ARGV[17] ~= '' and tonumber(ARGV[17]) ~= amount then
  return {'price_changed', amount}
end
local currency = (on_sale and sale['currency']) or product['currency']
local coupon_id = coupon and coupon['id'] or cjson.null
local sale_id = on_sale and sale['id'] or cjson.null

if quoting then
  table.sort(listed, function(a, b) return a['id'] < b['id'] end)
  for _, c in ipairs(listed) do c['end_at'] = nil end
  local coupons_json = '[]'
  if #listed > 0 then coupons_json = cjson.encode(listed) end
  return {'quote', object_json({
    'unit_price', price, 'quantity', qty, 'subtotal', subtotal, 'discount', discount,
    'coupon_id', cjson.encode(coupon_id), 'amount', amount, 'currency', cjson.encode(currency),
    'sale_id', cjson.encode(sale_id), 'variant_id', cjson.encode(vid),
    'left', left, 'from_sale', tostring(on_sale), 'creator_id', cjson.encode(product['creator_id']),
    'coupons', coupons_json})}
end

if not on_sale and left < qty then
  return {'need', qty - left, left, product['creator_id'], vid}
end

-- take the units, count the buyer's, use the coupon, write the order
if on_sale then
  left = redis.call('HINCRBY', KEYS[5], pid, -qty)
else
  left = redis.call('HINCRBY', KEYS[6], field, -qty)
end
redis.call('HINCRBY', KEYS[7], bkey, qty)
if coupon then
  redis.call('HINCRBY', KEYS[16], coupon['id'] .. ':' .. uid, 1)
  coupon['used'] = (tonumber(coupon['used']) or 0) + 1
  redis.call('HSET', KEYS[14], coupon['id'], coupon_json(coupon, 'store'))
end
local address = cjson.null
if ARGV[19] ~= '' then
  address = cjson.decode(ARGV[19])
end
local order = {
  id = ARGV[9], room_id = ARGV[14], product_id = pid, variant_id = vid,
  variant = variant['options'], sale_id = sale_id, title = product['title'], buyer = uid,
  quantity = qty, unit_price = price, subtotal = subtotal, discount = discount,
  coupon_id = coupon_id, amount = amount, currency = currency,
  commission_bp = tonumber(redis.call('HGET', KEYS[3], 'bp:' .. pid) or '0'), commission = 0,
  state = 'reserved', created_at = now, updated_at = now,
  expires_at = now + tonumber(ARGV[10]), idempotency_key = ARGV[8], address = address,
}
local ojson = cjson.encode(order)
redis.call('HSET', KEYS[9], ARGV[9], ojson)
redis.call('ZADD', KEYS[10], now, ARGV[9])
redis.call('HSET', KEYS[8], ikey, ARGV[9])
redis.call('XADD', KEYS[11], 'MAXLEN', '~', ARGV[12], '*', 'type', 'reserved', 'order', ojson)
-- units left: unsequenced, coalesced per room, product and variant by each process's hub; on
-- the ordinary path the catalogue's units as of the room's last transfer are added
local shown = left
if not on_sale then
  shown = left + tonumber(redis.call('HGET', KEYS[6], 'cat:' .. field) or '0')
end
publish_event(ARGV[1], ev_stock(ARGV[3], pid, shown, vid, on_sale and sale['id'] or nil))
local n = redis.call('HINCRBY', KEYS[5], 'n:' .. pid, 1)
if (n - 1) % tonumber(ARGV[11]) == 0 then  -- "someone just bought": lossy, sampled
  publish_event(ARGV[1], ev_bought(ARGV[3], pid, ARGV[13], qty))
end
if on_sale and left == 0 then
  sale['state'], sale['reason'] = 'closed', 'sold_out'
  local encoded = cjson.encode(sale)
  redis.call('HSET', KEYS[4], pid, encoded)
  append_event(KEYS[12], KEYS[13], ARGV[1], ARGV[2],
    ev_sale_ended(ARGV[3], encoded, 0, 'sold_out'))
end
return {'ok', ojson, shown}
