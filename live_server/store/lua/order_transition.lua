-- One order transition, atomically (docs/ARCHITECTURE.md, "Orders"): claim, release, pay,
-- cancel, expire, fulfil, refund. Cancel, expire and refund give the units back exactly once
-- (and the buyer's allowance): to the order's sale while it is the product's sale and open (or
-- sold out within its window: it reopens), else to the catalogue, as a pending transfer
-- recorded here (store/stock.py finishes it). Cancel and expire give a used coupon back. Pay
-- credits the creator's commission (on the amount paid, after the discount), refund reverses
-- it; a claim or a payment copies the buyer's address onto the order when one is given. Paying is claim (reserved → paying, with a lease), charge, pay (confirm with the
-- claim's token); a claim whose lease ran out counts as reserved. A claim after the
-- reservation's expiry expires it instead. A payment for a reservation that ended (expired,
-- cancelled, or reserved past its expiry without a claim) is kept as paid_late (no units, no
-- commission; counted in the earnings' late_paid until refunded). A gateway event id is checked
-- and recorded on the order in the same step, so a failed transition leaves it unseen.
-- KEYS: 1 orders, 2 sales, 3 left, 4 bought, 5 order stream, 6 earnings, 7 ledger, 8 seq,
--       9 events, 10 products, 11 the room's pending transfers, 12 coupons, 13 coupon uses,
--       14 the room's charity order totals, 15 the room's charity order entries
-- ARGV: 1 channel, 2 maxlen, 3 now, 4 order id, 5 action, 6 actor, 7 payment reference,
--       8 order stream max, 9 claim token ('' for none), 10 lease ms (claim),
--       11 gateway event id ('' for none), 12 the buyer's address JSON ('' for none),
--       13 pay: the charity earmark of the order's amount ('' when the room's terms do not
--       cover orders; computed by live_server/domain/charity.py), 14 its beneficiary
-- Reply: {'ok', order JSON, give-back record JSON or ''} | {'expired', order JSON, record or ''}
--        | {'not_found'}
--        | {'invalid_state', state, order JSON} | {'not_due', due at} | {'replayed', order JSON}
local now, oid, action = tonumber(ARGV[3]), ARGV[4], ARGV[5]
local token, event_id = ARGV[9], ARGV[11]
local ojson = redis.call('HGET', KEYS[1], oid)
if not ojson then
  return {'not_found'}
end
local o = cjson.decode(ojson)
if event_id ~= '' and (o['pay_event'] == event_id or o['refund_event'] == event_id) then
  return {'replayed', ojson}
end
local state = o['state']
local mine = token ~= '' and state == 'paying' and o['pay_claim'] == token
if state == 'paying' and not mine and now >= tonumber(o['pay_until']) then
  state = 'reserved'  -- the claim's lease ran out: its process died between claim and confirm
end
local expired_at = now >= tonumber(o['expires_at'])

local to
if action == 'claim' then
  if state == 'reserved' then to = 'paying' end
elseif action == 'release' then
  if mine then to = 'reserved' end
elseif action == 'pay' then
  if mine or state == 'reserved' or (token == '' and state == 'paying') then
    to = 'paid'
  elseif state == 'expired' or state == 'cancelled' then
    to = 'paid_late'
  end
elseif action == 'cancel' or action == 'expire' then
  if state == 'reserved' then to = (action == 'cancel') and 'cancelled' or 'expired' end
elseif action == 'fulfil' then
  if state == 'paid' then to = 'fulfilled' end
elseif action == 'refund' then
  if state == 'paid' or state == 'paid_late' then to = 'refunded' end
end
if not to then
  if action == 'expire' and state == 'paying' then
    return {'not_due', math.max(tonumber(o['pay_until']), tonumber(o['expires_at']))}
  end
  return {'invalid_state', state, ojson}
end
if action == 'expire' and not expired_at then
  return {'not_due', o['expires_at']}
end

local qty, pid, amount = tonumber(o['quantity']), o['product_id'], tonumber(o['amount'])
local vid = o['variant_id'] or 'v0'
local transfer = ''

local function give_back()
  redis.call('HINCRBY', KEYS[4], pid .. ':' .. o['buyer'], -qty)
  local sjson = redis.call('HGET', KEYS[2], pid)
  if sjson and o['sale_id'] and o['sale_id'] ~= cjson.null then
    local sale = cjson.decode(sjson)
    local reopen = sale['state'] == 'closed' and sale['reason'] == 'sold_out'
      and now < tonumber(sale['end_at'])
    if sale['id'] == o['sale_id'] and (sale['state'] ~= 'closed' or reopen) then
      local left = redis.call('HINCRBY', KEYS[3], pid, qty)
      publish_event(ARGV[1], ev_stock(ARGV[3], pid, left, vid, sale['id']))
      if reopen then
        sale['state'], sale['reason'] = 'open', ''
        local encoded = cjson.encode(sale)
        redis.call('HSET', KEYS[2], pid, encoded)
        append_event(KEYS[8], KEYS[9], ARGV[1], ARGV[2],
          ev_sale_started(ARGV[3], encoded, left, nil, true))
      end
      return
    end
  end
  -- not to a sale: back to the catalogue, a transfer finished by the caller (or reconciler)
  local card = cjson.decode(redis.call('HGET', KEYS[10], pid))
  local field = pid .. ':' .. vid
  local id = 'g.' .. oid
  transfer = cjson.encode({id = id, to = 'u|' .. card['creator_id'], field = field,
                           out = 'out:' .. field, units = qty, at = now})
  redis.call('HSET', KEYS[11], id, transfer)
end

-- a coupon used by a reservation that ended unpaid is the buyer's to use again
local function give_coupon_back()
  local cid = o['coupon_id']
  if not cid or cid == cjson.null then
    return
  end
  redis.call('HINCRBY', KEYS[13], cid .. ':' .. o['buyer'], -1)
  local raw = redis.call('HGET', KEYS[12], cid)
  if raw then
    local c = cjson.decode(raw)
    c['used'] = math.max(0, (tonumber(c['used']) or 0) - 1)
    redis.call('HSET', KEYS[12], cid, coupon_json(c, 'store'))
  end
end

if ARGV[12] ~= '' and (action == 'claim' or action == 'pay') then
  o['address'] = cjson.decode(ARGV[12])
end

local function record(kind)
  -- the order, its stream entry and the buyer's own sockets (addressed, not broadcast)
  o['updated_at'], o['by'] = now, ARGV[6]
  ojson = cjson.encode(o)
  redis.call('HSET', KEYS[1], oid, ojson)
  redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[8], '*', 'type', kind, 'order', ojson)
  publish_event(ARGV[1], ev_order(ARGV[3], ojson, o['buyer']))
end

-- a claim and its release hold the order for one payment; neither is an order event
if to == 'paying' and expired_at then
  o['state'] = 'expired'
  give_back()
  give_coupon_back()
  record('expired')
  return {'expired', ojson, transfer}
end
if to == 'paying' or to == 'reserved' then
  o['state'], o['updated_at'] = to, now
  if to == 'paying' then
    o['pay_claim'], o['pay_until'] = token, now + tonumber(ARGV[10])
  else
    o['pay_claim'], o['pay_until'] = nil, nil
  end
  ojson = cjson.encode(o)
  redis.call('HSET', KEYS[1], oid, ojson)
  return {'ok', ojson, ''}
end

o['pay_claim'], o['pay_until'] = nil, nil
if to == 'paid' and state == 'reserved' and expired_at then
  -- the gateway's payment came after the reservation's end, unclaimed: end it, keep the money
  o['state'] = 'expired'
  give_back()
  give_coupon_back()
  record('expired')
  to = 'paid_late'
end
if to == 'cancelled' or to == 'expired' or (to == 'refunded' and state == 'paid') then
  give_back()
end
if to == 'cancelled' or to == 'expired' then
  give_coupon_back()
end
if to == 'paid' or to == 'paid_late' then
  o['paid_at'], o['payment_ref'] = now, ARGV[7]
  if event_id ~= '' then o['pay_event'] = event_id end
end
if to == 'paid' then
  local x = amount * tonumber(o['commission_bp'])
  local c = (x - x % 10000) / 10000  -- rounded down to a whole cent
  o['commission'] = c
  redis.call('HINCRBY', KEYS[6], 'gmv', amount)
  redis.call('HINCRBY', KEYS[6], 'commission', c)
  redis.call('HINCRBY', KEYS[6], 'paid_orders', 1)
  redis.call('XADD', KEYS[7], '*', 'kind', 'credit', 'order', oid, 'amount', amount,
             'commission', c, 'ts', ARGV[3])
  if ARGV[13] ~= '' and tonumber(ARGV[13]) > 0 then
    -- the charity earmark, recorded once with the payment (the state moves to paid once)
    o['charity'], o['charity_to'] = tonumber(ARGV[13]), ARGV[14]
    redis.call('HINCRBY', KEYS[14], 'orders', o['charity'])
    redis.call('HINCRBY', KEYS[14], 'orders_n', 1)
    redis.call('XADD', KEYS[15], '*', 'kind', 'earmark', 'order', oid, 'amount', o['charity'],
               'base', amount, 'to', ARGV[14], 'ts', ARGV[3])
  end
elseif to == 'paid_late' then
  redis.call('HINCRBY', KEYS[6], 'late_paid', amount)
  redis.call('HINCRBY', KEYS[6], 'late_paid_orders', 1)
elseif to == 'refunded' then
  if event_id ~= '' then o['refund_event'] = event_id end
  if state == 'paid' then
    local c = tonumber(o['commission'])
    redis.call('HINCRBY', KEYS[6], 'refunded', amount)
    redis.call('HINCRBY', KEYS[6], 'commission', -c)
    redis.call('HINCRBY', KEYS[6], 'refunded_orders', 1)
    redis.call('XADD', KEYS[7], '*', 'kind', 'reversal', 'order', oid, 'amount', -amount,
               'commission', -c, 'ts', ARGV[3])
    local given = tonumber(o['charity'] or 0)
    if given > 0 then  -- the refund reverses the order's charity earmark, once
      redis.call('HINCRBY', KEYS[14], 'orders', -given)
      redis.call('HINCRBY', KEYS[14], 'reversed_n', 1)
      redis.call('XADD', KEYS[15], '*', 'kind', 'reversal', 'order', oid, 'amount', -given,
                 'base', -amount, 'to', o['charity_to'], 'ts', ARGV[3])
    end
  else  -- a late payment handed back: it was never in the sales totals
    redis.call('HINCRBY', KEYS[6], 'late_paid', -amount)
    redis.call('HINCRBY', KEYS[6], 'late_paid_orders', -1)
  end
end
o['state'] = to
record(to)
return {'ok', ojson, transfer}
