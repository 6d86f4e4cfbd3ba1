-- One clock step of a room's auction, or the creator's cancel; each acts only if it is still to
-- be done, so any process may run it any number of times (docs/ARCHITECTURE.md, "Auctions").
--   open, ended by now:   no bid: 'unsold', its unit back to the allotment; else the leader's
--                         order at the price (from the unit the auction holds): 'awaiting'.
--   awaiting:             the order paid: 'paid'; still reserved: not due; expired or
--                         cancelled: the next bidder (highest maximum not offered yet, the
--                         earlier on a tie) gets an order at their maximum (their last bid),
--                         a unit taken from the allotment ('need' if none); after
--                         ARGV[8] second chances, or with nobody left: 'cancelled'.
--   cancel:               only an open auction without bids: 'cancelled', its unit back.
--   no_stock:             a tick whose caller found no unit in the catalogue for the next
--                         bidder: 'cancelled' (reason 'no_stock') instead of 'need'.
-- Order ids are o.<room>.<auction id>-<offer n>: each offer's order is written once.
-- KEYS: 1 meta, 2 auctions, 3 the auction's bidders, 4 allotment, 5 products, 6 orders,
--       7 order list, 8 order stream, 9 bought, 10 seq, 11 events
-- ARGV: 1 channel, 2 maxlen, 3 now, 4 auction id, 5 'tick' | 'cancel' | 'no_stock',
--       6 pay within ms,
--       7 order stream max, 8 second chances, 9 actor
-- Reply: {'done', auction JSON, new order JSON or ''} | {'not_due', at} | {'idle', auction JSON}
--        | {'need', creator id, product id, variant id} | {'not_found'} | {'has_bids'} | {'closed'}
local now, aid, action = tonumber(ARGV[3]), ARGV[4], ARGV[5]
local raw = redis.call('HGET', KEYS[2], aid)
if not raw then
  return {'not_found'}
end
local a = cjson.decode(raw)
local field = a['product_id'] .. ':' .. a['variant_id']

-- Write the auction back and append its event: auction_ended with result ('sold', 'unsold',
-- 'cancelled') when it closes, else auction_updated. Returns the auction JSON.
local function save(result)
  a['updated_at'] = now
  local encoded = cjson.encode(a)
  redis.call('HSET', KEYS[2], aid, encoded)
  if result then
    append_event(KEYS[10], KEYS[11], ARGV[1], ARGV[2],
      ev_auction_ended(ARGV[3], encoded, ARGV[3], result))
  else
    append_event(KEYS[10], KEYS[11], ARGV[1], ARGV[2],
      ev_auction_updated(ARGV[3], encoded, ARGV[3]))
  end
  return encoded
end

local function unit_back()
  if tonumber(a['held']) > 0 then
    redis.call('HINCRBY', KEYS[4], field, tonumber(a['held']))
    a['held'] = 0
  end
end

local function make_order(user, name, amount)
  local n = tonumber(a['offers']) + 1
  local oid = 'o.' .. a['room_id'] .. '.' .. aid .. '-' .. n
  a['offers'], a['order_id'], a['buyer'], a['buyer_name'], a['offer_price'] =
    n, oid, user, name, amount
  local order = {
    id = oid, room_id = a['room_id'], product_id = a['product_id'],
    variant_id = a['variant_id'], variant = a['variant'], sale_id = cjson.null,
    title = a['title'], buyer = user, quantity = 1, unit_price = amount, subtotal = amount,
    discount = 0, coupon_id = cjson.null, amount = amount, currency = a['currency'],
    commission_bp = tonumber(redis.call('HGET', KEYS[5], 'bp:' .. a['product_id']) or '0'),
    commission = 0, state = 'reserved', created_at = now, updated_at = now,
    expires_at = now + tonumber(ARGV[6]), idempotency_key = 'auction.' .. aid .. '.' .. n,
    address = cjson.null, auction_id = aid,
  }
  local ojson = cjson.encode(order)
  redis.call('HSET', KEYS[6], oid, ojson)
  redis.call('ZADD', KEYS[7], now, oid)
  redis.call('HINCRBY', KEYS[9], a['product_id'] .. ':' .. user, 1)
  redis.call('XADD', KEYS[8], 'MAXLEN', '~', ARGV[7], '*', 'type', 'reserved', 'order', ojson)
  publish_event(ARGV[1], ev_order(ARGV[3], ojson, user))
  local who = cjson.decode(redis.call('HGET', KEYS[3], user))
  who['offered'] = true
  redis.call('HSET', KEYS[3], user, cjson.encode(who))
  return ojson
end

if action == 'cancel' then
  if a['state'] ~= 'open' or now >= tonumber(a['end_at']) then
    return {'closed'}
  end
  if tonumber(a['bids']) > 0 then
    return {'has_bids'}
  end
  unit_back()
  a['state'], a['reason'], a['ended_at'] = 'cancelled', 'cancelled', now
  return {'done', save('cancelled'), ''}
end

if a['state'] == 'open' then
  if now < tonumber(a['end_at']) then
    return {'not_due', a['end_at']}
  end
  a['ended_at'] = now
  if a['leader'] == cjson.null then
    unit_back()
    a['state'], a['reason'] = 'unsold', 'no_bids'
    return {'done', save('unsold'), ''}
  end
  a['held'] = 0  -- the unit goes into the winner's order
  a['state'] = 'awaiting'
  local ojson = make_order(a['leader'], a['leader_name'], tonumber(a['price']))
  return {'done', save('sold'), ojson}
end

if a['state'] ~= 'awaiting' then
  return {'idle', raw}
end
local o = cjson.decode(redis.call('HGET', KEYS[6], a['order_id']))
local st = o['state']
if st == 'paid' or st == 'fulfilled' or st == 'refunded' then
  a['state'] = 'paid'
  return {'done', save(), ''}
end
if st == 'reserved' or st == 'paying' then
  local due = tonumber(o['expires_at'])
  if st == 'paying' and o['pay_until'] then due = math.max(due, tonumber(o['pay_until'])) end
  return {'not_due', math.max(due, now) + 1000}
end
-- expired or cancelled: the next bidder, or the end
local pick, pick_max, pick_at
if tonumber(a['offers']) <= tonumber(ARGV[8]) then
  local all = redis.call('HGETALL', KEYS[3])
  for i = 1, #all, 2 do
    local b = cjson.decode(all[i + 1])
    if not b['offered'] then
      local mx, at = tonumber(b['max']), tonumber(b['at'])
      if not pick or mx > pick_max or (mx == pick_max and (at < pick_at
          or (at == pick_at and all[i] < pick))) then
        pick, pick_max, pick_at = all[i], mx, at
      end
    end
  end
end
if not pick then
  a['state'], a['reason'] = 'cancelled', 'unpaid'
  return {'done', save(), ''}
end
if tonumber(redis.call('HGET', KEYS[4], field) or '0') < 1 then
  if action ~= 'no_stock' then
    return {'need', a['creator_id'], a['product_id'], a['variant_id']}
  end
  a['state'], a['reason'] = 'cancelled', 'no_stock'
  return {'done', save(), ''}
end
redis.call('HINCRBY', KEYS[4], field, -1)
local name = cjson.decode(redis.call('HGET', KEYS[3], pick))['name']
local ojson = make_order(pick, name, pick_max)
return {'done', save(), ojson}
