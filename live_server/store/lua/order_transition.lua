-- One order transition, atomically: pay, cancel, expire, fulfil, refund. Cancel, expire and
-- refund give the units back to the sale (and to the buyer's allowance) exactly once; pay
-- credits the creator's commission, refund reverses it. A reservation paid after its expiry
-- expires instead.
-- KEYS: 1 orders, 2 sales, 3 left, 4 bought, 5 order stream, 6 earnings, 7 ledger, 8 seq, 9 events
-- ARGV: 1 channel, 2 maxlen, 3 now, 4 order id, 5 action, 6 actor, 7 payment reference,
--       8 order stream max
-- Reply: {'ok', order JSON} | {'expired', order JSON} | {'not_found'}
--        | {'invalid_state', state, order JSON} | {'not_due', expires_at}
local now, oid, action = tonumber(ARGV[3]), ARGV[4], ARGV[5]
local ojson = redis.call('HGET', KEYS[1], oid)
if not ojson then
  return {'not_found'}
end
local o = cjson.decode(ojson)
local from = {pay = 'reserved', cancel = 'reserved', expire = 'reserved', fulfil = 'paid',
              refund = 'paid'}
local to = {pay = 'paid', cancel = 'cancelled', expire = 'expired', fulfil = 'fulfilled',
            refund = 'refunded'}
if o['state'] ~= from[action] then
  return {'invalid_state', o['state'], ojson}
end
local late = false
if action == 'expire' and now < tonumber(o['expires_at']) then
  return {'not_due', o['expires_at']}
end
if action == 'pay' and now >= tonumber(o['expires_at']) then
  action, late = 'expire', true
end
o['state'], o['updated_at'] = to[action], now
local qty, pid, amount = tonumber(o['quantity']), o['product_id'], tonumber(o['amount'])
if action == 'cancel' or action == 'expire' or action == 'refund' then
  redis.call('HINCRBY', KEYS[4], pid .. ':' .. o['buyer'], -qty)
  local sjson = redis.call('HGET', KEYS[2], pid)
  if sjson then
    local sale = cjson.decode(sjson)
    if sale['id'] == o['sale_id'] then
      local left = redis.call('HINCRBY', KEYS[3], pid, qty)
      publish_event(ARGV[1], ev_stock(ARGV[3], pid, left))
      if sale['state'] == 'closed' and sale['reason'] == 'sold_out'
          and now < tonumber(sale['end_at']) then
        sale['state'], sale['reason'] = 'open', ''
        local encoded = cjson.encode(sale)
        redis.call('HSET', KEYS[2], pid, encoded)
        append_event(KEYS[8], KEYS[9], ARGV[1], ARGV[2],
          ev_sale_started(ARGV[3], encoded, left, nil, true))
      end
    end
  end
end
if action == 'pay' then
  local x = amount * tonumber(o['commission_bp'])
  local c = (x - x % 10000) / 10000  -- rounded down to a whole cent
  o['commission'], o['paid_at'], o['payment_ref'] = c, now, ARGV[7]
  redis.call('HINCRBY', KEYS[6], 'gmv', amount)
  redis.call('HINCRBY', KEYS[6], 'commission', c)
  redis.call('HINCRBY', KEYS[6], 'paid_orders', 1)
  redis.call('XADD', KEYS[7], '*', 'kind', 'credit', 'order', oid, 'amount', amount,
             'commission', c, 'ts', ARGV[3])
elseif action == 'refund' then
  local c = tonumber(o['commission'])
  redis.call('HINCRBY', KEYS[6], 'refunded', amount)
  redis.call('HINCRBY', KEYS[6], 'commission', -c)
  redis.call('HINCRBY', KEYS[6], 'refunded_orders', 1)
  redis.call('XADD', KEYS[7], '*', 'kind', 'reversal', 'order', oid, 'amount', -amount,
             'commission', -c, 'ts', ARGV[3])
end
o['by'] = ARGV[6]
ojson = cjson.encode(o)
redis.call('HSET', KEYS[1], oid, ojson)
redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[8], '*', 'type', to[action], 'order', ojson)
-- the buyer's own sockets in the room hear of it at once (addressed, not broadcast)
publish_event(ARGV[1], ev_order(ARGV[3], ojson, o['buyer']))
if late then
  return {'expired', ojson}
end
return {'ok', ojson}
