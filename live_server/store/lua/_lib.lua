-- Shared helpers, prepended to every script when it is registered.

-- Room events -------------------------------------------------------------------------------
-- Every room event a script builds is built by one function below, one per type, so each type
-- has one shape (the types built in Python are in live_server/events.py). Each returns the
-- event's type and its JSON text, ready for append_event or publish_event:
--   append_event(seq_key, events_key, channel, maxlen, ev_sale_ended(...))
-- Arguments named *_json are JSON text already (product cards, sales, orders, display names):
-- they are spliced in as they are, never decoded and encoded again (cjson would write an empty
-- array as {}). Numbers are Lua numbers or decimal strings (ARGV).

-- The protocol's envelope {"type", "ts", "data"} ("to" only on an event for one user), with
-- its type beside it.
local function event_json(kind, ts, data_json, to)
  local head = '{"type":"' .. kind .. '"'
  if to then
    head = head .. ',"to":' .. cjson.encode(to)
  end
  return kind, head .. ',"ts":' .. ts .. ',"data":' .. data_json .. '}'
end

-- An object's JSON text from name, JSON text pairs in order: {'left', 3, 'reason', '"ended"'}.
local function object_json(fields)
  local parts = {}
  for i = 1, #fields, 2 do
    parts[#parts + 1] = '"' .. fields[i] .. '":' .. fields[i + 1]
  end
  return '{' .. table.concat(parts, ',') .. '}'
end

-- Units left of a product's variant (unsequenced, coalesced per product and variant by each
-- hub): in its sale, or for ordinary buying.
local function ev_stock(ts, product_id, left, variant_id, sale_id)
  return event_json('stock', ts, object_json({
    'product_id', cjson.encode(product_id), 'variant_id', cjson.encode(variant_id or 'v0'),
    'sale_id', sale_id and cjson.encode(sale_id) or 'null', 'left', left}))
end

-- "Someone just bought" (unsequenced, sampled).
local function ev_bought(ts, product_id, name_json, quantity)
  return event_json('bought', ts, object_json({
    'product_id', cjson.encode(product_id), 'name', name_json, 'quantity', quantity}))
end

-- The shelf after an edit: every card in shelf order ('null' for a missing card).
local function ev_shelf_updated(ts, cards_json, by_json)
  return event_json('shelf_updated', ts, object_json({
    'products', '[' .. table.concat(cards_json, ',') .. ']', 'by', by_json}))
end

-- The product being explained, or 'null' when the pin is cleared.
local function ev_product_pinned(ts, card_json, by_json)
  return event_json('product_pinned', ts, object_json({
    'product', card_json, 'by', by_json}))
end

-- A shelf product's card after an edit or take-down.
local function ev_product_updated(ts, card_json)
  return event_json('product_updated', ts, object_json({
    'product', card_json}))
end

-- Ops took the creator's product down: addressed to the creator only ("to"), never stored (the
-- room hears product_updated, without the reason).
local function ev_product_taken_down(ts, creator, product_id, title_json, reason_json)
  return event_json('product_taken_down', ts, object_json({
    'product_id', cjson.encode(product_id), 'title', title_json, 'reason', reason_json,
    'by', '"ops"'}), creator)
end

-- A sale set to start later: clients count down to sale.start_at against server_time.
local function ev_sale_countdown(ts, sale_json, left, server_time)
  return event_json('sale_countdown', ts, object_json({
    'sale', sale_json, 'left', left, 'server_time', server_time}))
end

-- A sale opened: created open (server_time given), by its clock (neither), or reopened by units
-- coming back to a sold-out sale (reopened true).
local function ev_sale_started(ts, sale_json, left, server_time, reopened)
  local fields = {'sale', sale_json, 'left', left}
  if server_time then
    fields[#fields + 1], fields[#fields + 2] = 'server_time', server_time
  end
  if reopened then
    fields[#fields + 1], fields[#fields + 2] = 'reopened', 'true'
  end
  return event_json('sale_started', ts, object_json(fields))
end

-- A sale closed: reason 'sold_out', 'ended' or 'cancelled'.
local function ev_sale_ended(ts, sale_json, left, reason)
  return event_json('sale_ended', ts, object_json({
    'sale', sale_json, 'left', left, 'reason', cjson.encode(reason)}))
end

-- A buyer's order after a transition: addressed to the buyer only ("to"), never stored.
local function ev_order(ts, order_json, buyer)
  return event_json('order', ts, order_json, buyer)
end

-- "X grabbed ¥Y" (unsequenced, sampled).
local function ev_red_packet_grabbed(ts, packet_id, name_json, amount, left)
  return event_json('red_packet_grabbed', ts, object_json({
    'packet_id', cjson.encode(packet_id), 'name', name_json, 'amount', amount, 'left', left}))
end

-- Entrants of a lucky draw so far (unsequenced, sampled; coalesced per draw by each hub).
local function ev_draw_entrants(ts, draw_id, entrants)
  return event_json('draw_entrants', ts, object_json({
    'draw_id', cjson.encode(draw_id), 'entrants', entrants}))
end

-- The room's totals (unsequenced; the hub keeps the latest).
local function ev_counters(ts, online, hearts, unique, peak, chat)
  return event_json('counters', ts, object_json({
    'online', online, 'hearts', hearts, 'unique', unique, 'peak', peak, 'chat', chat}))
end

-- Auctions: auction_json is the auction as stored (public as it is: the bidders' maxima live in
-- its bidders hash); server_time is the script's clock, for the clients' count-down to end_at.

-- An auction opened.
local function ev_auction_started(ts, auction_json, server_time)
  return event_json('auction_started', ts, object_json({
    'auction', auction_json, 'server_time', server_time}))
end

-- A bid accepted: the price and leader after proxy bidding, end_at moved when extended
-- (anti-snipe), now the bid's time, next_min the lowest next bid.
local function ev_auction_bid(ts, auction_id, price, leader, leader_name_json, bids, end_at, now,
                              extended, next_min)
  return event_json('auction_bid', ts, object_json({
    'auction_id', cjson.encode(auction_id), 'price', price, 'leader_id', cjson.encode(leader),
    'leader_name', leader_name_json, 'bids', bids, 'end_at', end_at, 'now', now,
    'extended', tostring(extended), 'next_min', next_min}))
end

-- An auction closed: result 'sold', 'unsold' or 'cancelled'.
local function ev_auction_ended(ts, auction_json, server_time, result)
  return event_json('auction_ended', ts, object_json({
    'auction', auction_json, 'server_time', server_time, 'result', cjson.encode(result)}))
end

-- An ended auction changed: paid, offered to the next bidder, or cancelled.
local function ev_auction_updated(ts, auction_json, server_time)
  return event_json('auction_updated', ts, object_json({
    'auction', auction_json, 'server_time', server_time}))
end

-- Gifts sent (unsequenced, coalesced per sender and gift by each hub): gift_json is the gift's
-- card ({"gift_id","name","icon","price"}), combo the gifts of this kind sent in a row.
local function ev_gift(ts, from, name_json, gift_json, gift_id, quantity, combo)
  return event_json('gift', ts, object_json({
    'from', cjson.encode(from), 'name', name_json, 'gift', gift_json,
    'gift_id', cjson.encode(gift_id), 'quantity', quantity, 'combo', combo}))
end

-- Coupons -----------------------------------------------------------------------------------
-- A coupon's JSON text from its decoded table, its fields always in this order. view:
--   'store'  as kept in {room}:coupons (claimed and used counts included);
--   'full'   'store' plus 'left' (quota - claimed): what the room's creator reads;
--   'public' without the used count, plus 'left': what viewers see (pinned card, lists).
-- A script that changes a coupon (claim, stop, a purchase using it, a use given back) writes
-- it back with coupon_json(c, 'store'): cjson.encode would turn an empty product_ids into {}.
local function coupon_json(c, view)
  local ids = {}
  for i, pid in ipairs(c.product_ids or {}) do
    ids[i] = cjson.encode(pid)
  end
  local function int(v)
    return string.format('%d', tonumber(v) or 0)
  end
  local fields = {
    'id', cjson.encode(c.id), 'room_id', cjson.encode(c.room_id),
    'title', cjson.encode(c.title), 'kind', cjson.encode(c.kind),
    'amount_off', int(c.amount_off), 'percent_bp', int(c.percent_bp),
    'max_off', int(c.max_off), 'min_spend', int(c.min_spend),
    'product_ids', '[' .. table.concat(ids, ',') .. ']',
    'quota', int(c.quota), 'per_user', int(c.per_user),
    'start_at', int(c.start_at), 'end_at', int(c.end_at), 'created_at', int(c.created_at),
    'claimed', int(c.claimed), 'state', cjson.encode(c.state)}
  if view ~= 'public' then
    fields[#fields + 1], fields[#fields + 2] = 'used', int(c.used)
  end
  if view ~= 'store' then
    local left = math.max(0, (tonumber(c.quota) or 0) - (tonumber(c.claimed) or 0))
    fields[#fields + 1], fields[#fields + 2] = 'left', int(left)
  end
  return object_json(fields)
end

-- A room's coupon, decoded, if it still takes claims and pins: active (not stopped) and not
-- ended at now. Returns the coupon, or nil and the refusal ({'no_coupon'}, {'coupon_stopped'},
-- {'coupon_ended', end_at}).
local function live_coupon(coupons_key, cid, now)
  local raw = redis.call('HGET', coupons_key, cid)
  if not raw then
    return nil, {'no_coupon'}
  end
  local c = cjson.decode(raw)
  if c.state ~= 'active' then
    return nil, {'coupon_stopped'}
  end
  if tonumber(now) >= tonumber(c.end_at) then
    return nil, {'coupon_ended', c.end_at}
  end
  return c, nil
end

-- The coupon pinned in the room (its public card), or 'null' when the pin is cleared.
local function ev_coupon_pinned(ts, card_json, by_json)
  return event_json('coupon_pinned', ts, object_json({
    'coupon', card_json, 'by', by_json}))
end

-- Copies of a coupon left to claim (unsequenced, coalesced per coupon by each hub).
local function ev_coupon(ts, coupon_id, left)
  return event_json('coupon', ts, object_json({
    'coupon_id', cjson.encode(coupon_id), 'left', left}))
end

-- Storing and publishing --------------------------------------------------------------------

-- Give an event its sequence number, keep it in the room's history and publish it. The entry
-- holds the type as its own field 't' beside the JSON 'e', so readers (history, snapshot,
-- delete) pick chat out without decoding or matching the JSON text.
-- body: the event JSON without "seq" (an object: starts with '{' and has at least one key).
local function append_event(seq_key, events_key, channel, maxlen, kind, body)
  local seq = redis.call('INCR', seq_key)
  local full = '{"seq":' .. seq .. ',' .. string.sub(body, 2)
  redis.call('XADD', events_key, 'MAXLEN', maxlen, seq .. '-1', 'e', full, 't', kind)
  redis.call(PUBLISH_CMD, channel, full)
  return seq
end

-- Publish an unsequenced event (not stored): publish_event(channel, ev_stock(...)).
local function publish_event(channel, _kind, body)
  redis.call(PUBLISH_CMD, channel, body)
end

-- The type and JSON of a room history entry (its field list {name, value, ...}). Entries
-- written before the 't' field existed carry only 'e': their type is read from the JSON.
local function stored_event(fields)
  local kind, body
  for i = 1, #fields, 2 do
    if fields[i] == 't' then
      kind = fields[i + 1]
    elseif fields[i] == 'e' then
      body = fields[i + 1]
    end
  end
  if not kind and body then
    kind = cjson.decode(body)['type']
  end
  return kind, body
end

-- The room's state, or the reply that refuses a change to a missing or ended room.
local function open_room(meta_key)
  local state = redis.call('HGET', meta_key, 'state')
  if not state then
    return nil, {'not_found'}
  end
  if state == 'ended' then
    return nil, {'invalid_state', state}
  end
  return state, nil
end

-- Append one money movement to the ledger (append-only, never trimmed) and to the recent list
-- of the user on each side. Accounts: 'user:<id>', 'packet:<id>', 'topup' (money brought in).
-- recent_keys: the recent-entries lists of the user accounts involved (0, 1 or 2 keys).
local function ledger_move(ledger_key, recent_keys, recent_max, now, from, to, amount, reason,
                           ref)
  local id = redis.call('XADD', ledger_key, '*', 'ts', now, 'from', from, 'to', to,
    'amount', amount, 'reason', reason, 'ref', ref)
  local entry = cjson.encode({id = id, ts = tonumber(now), from = from, to = to,
    amount = tonumber(amount), reason = reason, ref = ref})
  for _, key in ipairs(recent_keys) do
    redis.call('LPUSH', key, entry)
    redis.call('LTRIM', key, 0, tonumber(recent_max) - 1)
  end
  return id
end

-- Charity shows (live_server/domain/charity.py computes every amount; nothing is computed
-- here). ckeys: {room's terms hash, beneficiary balances, room's earmark totals, room's
-- earmark entries}. The caller passes the terms version it computed its earmark from: a
-- script refuses to move money on terms it did not see (the caller reads them again).
local function charity_terms_seen(terms_key, version)
  return (redis.call('HGET', terms_key, 'version') or '') == version
end

-- Move an earmark out of the creator's wallet to the beneficiary with its ledger entry, the
-- room's totals and its entry list; lock the room's terms (proceeds were earmarked). An
-- earmark rounded down to 0 locks the terms and moves nothing.
local function charity_earmark(ckeys, balances_key, ledger_key, recent_keys, recent_max, now,
                               creator, beneficiary, amount, source, source_id, base, room_id)
  redis.call('HSET', ckeys[1], 'locked', 1)
  amount = tonumber(amount)
  if amount <= 0 then
    return
  end
  redis.call('HINCRBY', balances_key, creator, -amount)
  redis.call('HINCRBY', ckeys[2], beneficiary, amount)
  local id = ledger_move(ledger_key, recent_keys, recent_max, now, 'user:' .. creator,
    'beneficiary:' .. beneficiary, amount, 'charity', room_id .. '|' .. source .. '|' .. source_id)
  redis.call('HINCRBY', ckeys[3], source, amount)
  redis.call('HINCRBY', ckeys[3], source .. '_n', 1)
  redis.call('XADD', ckeys[4], '*', 'source', source, 'ref', source_id, 'amount', amount,
    'base', base, 'ts', now, 'ledger', id)
end

-- Transfers between wallet buckets (store/transfers.py). The paying side records a transfer
-- it has debited as pending (the record a JSON the reconciler can finish it from) and due for
-- the reconciler a grace later; the receiving side's step checks and records the transfer id,
-- so it moves the money once however often it runs.
local function xfer_pend(out_key, due_key, id, record, due_at)
  redis.call('HSET', out_key, id, record)
  redis.call('ZADD', due_key, due_at, id)
end

-- The receiving step's first answer for transfer id, or nil when it has not run.
local function xfer_seen(in_key, id)
  if id == '' then
    return nil
  end
  return redis.call('HGET', in_key, id)
end

-- Record the receiving step's answer ('ok|…' or 'refused|<code>'); nothing for id ''.
local function xfer_mark(in_key, id, answer)
  if id ~= '' then
    redis.call('HSET', in_key, id, answer)
  end
end
