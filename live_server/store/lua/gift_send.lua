-- Send gifts in a room, on the creator's wallet bucket: one transfer out of the sender's wallet,
-- the creator's share to the creator and the rest to the platform's account (this bucket's
-- sub-account), each with its ledger entry; the room's and the creator's gift figures; the
-- sender's combo; an unsequenced `gift` event for the gifts on the room's stage (each hub keeps
-- the newest per sender and gift until its tick, so a burst is one event per tick with its
-- combo).
-- An idempotency key already used answers its first answer again and moves nothing.
-- Transfer mode (ARGV[15] a transfer id: the sender's wallet is on another bucket, where
-- xfer_hold.lua already took the money, store/transfers.py): the transfer id seen before
-- answers its first answer ('seen'); else nothing is taken from the sender here, both entries
-- come from `xfer:<id>`, the idempotency key is the sender's bucket's business (the transfer's
-- memo), and the answer is recorded in the bucket's transfers in. `terms_changed` is not
-- recorded: the caller computes the earmark again on fresh terms and runs the step again.
-- KEYS: 1 balances, 2 ledger, 3 sender's recent entries, 4 creator's recent entries,
--       5 platform balances (account → cents), 6 the sender's idempotency keys (key → answer),
--       7 the sender's combos (room|gift → "combo|at"), 8 the room's gift figures,
--       9 the creator's gift figures, 10-13 the room's charity keys (terms, beneficiary
--       balances, earmark totals, earmark entries: store/charity.py), 14 the room's stage
--       (sender|gift → shown until, ms), 15 the bucket's transfers in (transfer id → first
--       answer); in transfer mode 3 and 6 are not touched
-- ARGV: 1 now, 2 sender, 3 creator, 4 platform account, 5 room id, 6 gift JSON
--       ({"gift_id","name","icon","price"}), 7 gift id, 8 quantity, 9 creator cents,
--       10 platform cents, 11 recent max, 12 idempotency key ('' for none), 13 key ttl ms,
--       14 combo window ms, 15 transfer id ('' for the one-script send), 16 sender's name
--       (JSON string), 17 send id, 18 the charity terms version the earmark was computed
--       from, 19 the earmark (cents out of the creator's share), 20 its beneficiary ('' when
--       the terms do not cover gifts), 21 stage slots, 22 stage hold ms, 23 always shown from
--       (cents), 24 in transfer mode: the sender's balance the answer tells (from the paying
--       step)
-- Reply: {'ok', answer JSON, the `gift` event JSON or '' (this script runs on the money slot:
--        the caller publishes the event on the room's slot)}
--        | {'repeat', answer JSON} | {'insufficient_funds', balance}
--        | {'terms_changed'} | {'seen', first answer ('ok|<answer JSON>')}
local now, uid, creator = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local key, xfer = ARGV[12], ARGV[15]
if xfer ~= '' then
  local first = xfer_seen(KEYS[15], xfer)
  if first then
    return {'seen', first}
  end
elseif key ~= '' then
  local first = redis.call('HGET', KEYS[6], key)
  if first then
    return {'repeat', first}
  end
end
if not charity_terms_seen(KEYS[10], ARGV[18]) then
  return {'terms_changed'}
end
local quantity = tonumber(ARGV[8])
local to_creator, to_platform = tonumber(ARGV[9]), tonumber(ARGV[10])
local total = to_creator + to_platform
local bal, from, sender_recent
if xfer == '' then
  bal = tonumber(redis.call('HGET', KEYS[1], uid) or '0')
  if bal < total then
    return {'insufficient_funds', bal}
  end
  bal = redis.call('HINCRBY', KEYS[1], uid, -total)
  from, sender_recent = 'user:' .. uid, {KEYS[3]}
else
  bal = tonumber(ARGV[24])
  from, sender_recent = 'xfer:' .. xfer, {}
end
local ref = ARGV[5] .. '|' .. ARGV[17]
if to_creator > 0 then
  redis.call('HINCRBY', KEYS[1], creator, to_creator)
  local recent = {KEYS[4]}
  if xfer == '' then
    recent = {KEYS[3], KEYS[4]}
  end
  ledger_move(KEYS[2], recent, ARGV[11], ARGV[1], from, 'user:' .. creator, to_creator,
    'gift', ref)
end
if ARGV[20] ~= '' then
  charity_earmark({KEYS[10], KEYS[11], KEYS[12], KEYS[13]}, KEYS[1], KEYS[2], {KEYS[4]},
    ARGV[11], ARGV[1], creator, ARGV[20], ARGV[19], 'gifts', ARGV[17], to_creator, ARGV[5])
end
if to_platform > 0 then
  redis.call('HINCRBY', KEYS[5], ARGV[4], to_platform)
  ledger_move(KEYS[2], sender_recent, ARGV[11], ARGV[1], from, 'platform:' .. ARGV[4],
    to_platform, 'gift_fee', ref)
end
-- the combo: same gift, same room, within the window of the previous send
local field = ARGV[5] .. '|' .. ARGV[7]
local combo = quantity
local prev = redis.call('HGET', KEYS[7], field)
if prev then
  local sep = string.find(prev, '|', 1, true)
  local count, at = tonumber(string.sub(prev, 1, sep - 1)), tonumber(string.sub(prev, sep + 1))
  if now - at >= 0 and now - at <= tonumber(ARGV[14]) then
    combo = count + quantity
  end
end
redis.call('HSET', KEYS[7], field, combo .. '|' .. ARGV[1])
redis.call('PEXPIRE', KEYS[7], tonumber(ARGV[14]) * 2)
for _, k in ipairs({KEYS[8], KEYS[9]}) do
  redis.call('HINCRBY', k, 'gifts', quantity)
  redis.call('HINCRBY', k, 'sends', 1)
  redis.call('HINCRBY', k, 'spent', total)
  redis.call('HINCRBY', k, 'creator', to_creator)
  redis.call('HINCRBY', k, 'platform', to_platform)
  redis.call('HINCRBY', k, 'g:' .. ARGV[7], quantity)
end
-- The stage: the room hears the gifts of at most ARGV[21] senders at once (the page shows a few
-- bubbles; a burst of thousands of senders would cost every viewer an event per send). A gift
-- on the stage keeps its place while sends of it follow within ARGV[22] ms, so its combo is
-- seen to the end; another takes a free place or is not shown (its sender sees it from the
-- answer). A send worth ARGV[23] cents or more is always shown.
local subject, hold = uid .. '|' .. ARGV[7], tonumber(ARGV[22])
local on_stage, taken = false, 0
local stage = redis.call('HGETALL', KEYS[14])
for i = 1, #stage, 2 do
  if tonumber(stage[i + 1]) <= now then
    redis.call('HDEL', KEYS[14], stage[i])
  elseif stage[i] == subject then
    on_stage = true
  else
    taken = taken + 1
  end
end
local shown = on_stage or taken < tonumber(ARGV[21])
if shown then
  redis.call('HSET', KEYS[14], subject, now + hold)
  redis.call('PEXPIRE', KEYS[14], hold * 2)
end
shown = shown or total >= tonumber(ARGV[23])
-- the `gift` event (unsequenced, coalesced per sender and gift by each hub)
local event = ''
if shown then
  event = select(2, ev_gift(ARGV[1], uid, ARGV[16], ARGV[6], ARGV[7], quantity, combo))
end
local answer = '{"send_id":' .. cjson.encode(ARGV[17]) .. ',"gift_id":' .. cjson.encode(ARGV[7])
  .. ',"quantity":' .. quantity .. ',"amount":' .. total .. ',"combo":' .. combo
  .. ',"balance":' .. bal .. ',"shown":' .. tostring(shown) .. '}'
if xfer ~= '' then
  xfer_mark(KEYS[15], xfer, 'ok|' .. answer)
elseif key ~= '' then
  redis.call('HSET', KEYS[6], key, answer)
  redis.call('PEXPIRE', KEYS[6], tonumber(ARGV[13]))
end
return {'ok', answer, event}
