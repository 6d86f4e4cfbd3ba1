-- One bid on a room's open auction, atomically (docs/ARCHITECTURE.md, "Auctions"): the auction
-- open and not ended by the caller's clock, the amount at least the start (first bid) or the
-- price plus the increment, proxy maxima (live_server/domain/auctions.py `place`: the same
-- arithmetic), the anti-snipe extension, the bid's record and its `auction_bid` event appended
-- to the room's stream, all in this one step. A leader may only raise their maximum (no event:
-- the maximum is private). The reply is kept under the bidder's idempotency key.
-- KEYS: 1 meta, 2 auctions, 3 the auction's bidders, 4 its idempotency replies, 5 its bids,
--       6 seq, 7 events
-- ARGV: 1 channel, 2 maxlen, 3 now, 4 auction id, 5 bidder, 6 bidder's name (JSON string),
--       7 amount, 8 maximum ('' = the amount), 9 idempotency key
-- Reply: {'ok', reply JSON} | {'dup', reply JSON} | {'not_found'} | {'closed', end_at}
--        | {'too_low', minimum} | {'leading', price}
local now, aid, uid = tonumber(ARGV[3]), ARGV[4], ARGV[5]
local prior = redis.call('HGET', KEYS[4], uid .. ':' .. ARGV[9])
if prior then
  return {'dup', prior}
end
local raw = redis.call('HGET', KEYS[2], aid)
if not raw then
  return {'not_found'}
end
local a = cjson.decode(raw)
local end_at = tonumber(a['end_at'])
if a['state'] ~= 'open' or now >= end_at or redis.call('HGET', KEYS[1], 'state') == 'ended' then
  return {'closed', end_at}
end

local function step_at(price)
  for _, row in ipairs(a['increments']) do
    if row['below'] == nil or row['below'] == cjson.null or price < tonumber(row['below']) then
      return tonumber(row['step'])
    end
  end
  return tonumber(a['increments'][#a['increments']]['step'])
end

local amount = tonumber(ARGV[7])
local top = amount
if ARGV[8] ~= '' and tonumber(ARGV[8]) > top then
  top = tonumber(ARGV[8])
end
local price, bids = tonumber(a['price']), tonumber(a['bids'])
local leader = a['leader']
if leader == cjson.null then leader = nil end
local mine_raw = redis.call('HGET', KEYS[3], uid)
local mine = mine_raw and cjson.decode(mine_raw) or {max = 0, at = now, name = cjson.decode(ARGV[6])}

local function answer(status, fields)
  local reply = object_json(fields)
  redis.call('HSET', KEYS[4], uid .. ':' .. ARGV[9], reply)
  return {status, reply}
end

if leader == uid then
  if top <= tonumber(mine['max']) then
    return {'leading', price}
  end
  mine['max'] = top
  redis.call('HSET', KEYS[3], uid, cjson.encode(mine))
  return answer('ok', {'auction_id', cjson.encode(aid), 'price', price, 'leading', 'true',
    'your_max', top, 'end_at', end_at, 'next_min', price + step_at(price), 'bids', bids,
    'raised', 'true', 'seq', 'null'})
end

local minimum = price + step_at(price)
if bids == 0 then minimum = tonumber(a['start_price']) end
if amount < minimum then
  return {'too_low', minimum}
end
local leader_max = 0
if leader then
  leader_max = tonumber(cjson.decode(redis.call('HGET', KEYS[3], leader))['max'])
end
if not leader then
  price, leader = amount, uid
elseif top > leader_max then
  price = math.max(amount, math.min(top, leader_max + step_at(leader_max)))
  leader = uid
else
  -- the leader's proxy answers: up to their maximum, one step above the challenger's
  price = math.min(leader_max, top + step_at(top))
end
bids = bids + 1
if top > tonumber(mine['max']) then mine['max'] = top end
if not mine_raw then mine['at'] = now end
mine['last'] = amount
redis.call('HSET', KEYS[3], uid, cjson.encode(mine))

local extended = false
if a['mode'] == 'anti_snipe' and end_at - now < tonumber(a['snipe_ms']) then
  end_at = now + tonumber(a['snipe_ms'])
  extended = true
  a['extended'] = tonumber(a['extended']) + 1
end
a['price'], a['bids'], a['end_at'] = price, bids, end_at
if a['leader'] ~= leader then
  a['leader'] = leader
  a['leader_name'] = leader == uid and mine['name']
    or cjson.decode(redis.call('HGET', KEYS[3], leader))['name']
end
redis.call('HSET', KEYS[2], aid, cjson.encode(a))
local leader_name = cjson.encode(a['leader_name'])
redis.call('RPUSH', KEYS[5], object_json({'price', price, 'leader', cjson.encode(leader),
  'by', cjson.encode(uid), 'amount', amount, 'at', now, 'end_at', end_at}))
local next_min = price + step_at(price)
local seq = append_event(KEYS[6], KEYS[7], ARGV[1], ARGV[2], ev_auction_bid(ARGV[3], aid, price,
  leader, leader_name, bids, end_at, now, extended, next_min))
return answer('ok', {'auction_id', cjson.encode(aid), 'price', price,
  'leading', tostring(leader == uid), 'your_max', mine['max'], 'end_at', end_at,
  'next_min', next_min, 'bids', bids, 'raised', 'false', 'seq', seq})
