-- Settle a draw's cash prize once: its holding → each winner (the amount per winner), what is
-- left → back to the creator, each with its ledger entry, in one step on the creator's wallet
-- bucket. A winner on that bucket is credited here; one on another bucket gets a transfer
-- written pending here (ledger `draw:<id> → xfer:<id>~<winner>`, its record in the transfers
-- out, due for the reconciler), which the caller credits on the winner's bucket.
-- Settling with no winners refunds the whole holding (a draw that could not be opened).
-- KEYS: 1 balances, 2 ledger, 3 draw's money hash, 4 draw's payouts hash (user → cents),
--       5 creator's recent entries, 6 transfers out, 7 transfers due, 8.. the recent entries
--       of each winner on this bucket (in ARGV's order)
-- ARGV: 1 now, 2 draw id, 3 recent max, 4 a transfer's due time, 5 this bucket's index,
--       6.. the winners, each followed by its bucket's index
-- Reply: {'ok', paid, refunded, (transfer id, record)...} | {'done'} | {'gone'}
local f = redis.call('HMGET', KEYS[3], 'state', 'each', 'held', 'creator')
if not f[1] then
  return {'gone'}
end
if f[1] ~= 'held' then
  return {'done'}
end
local each, held, draw = tonumber(f[2]), tonumber(f[3]), 'draw:' .. ARGV[2]
local here = tonumber(ARGV[5])
local paid, local_n = 0, 0
local out = {}
for i = 6, #ARGV, 2 do
  local uid, home = ARGV[i], tonumber(ARGV[i + 1])
  if home == here then
    local_n = local_n + 1
  end
  if held >= each and redis.call('HEXISTS', KEYS[4], uid) == 0 then
    if home == here then
      redis.call('HINCRBY', KEYS[1], uid, each)
      ledger_move(KEYS[2], {KEYS[7 + local_n]}, ARGV[3], ARGV[1], draw, 'user:' .. uid, each,
        'draw_prize', ARGV[2])
    else
      local id = ARGV[2] .. '~' .. uid
      local record = cjson.encode({kind = 'credit', amount = each, payer = draw, payee = uid,
        from = here, to = home, reason = 'draw_prize', ref = ARGV[2], at = tonumber(ARGV[1])})
      ledger_move(KEYS[2], {}, ARGV[3], ARGV[1], draw, 'xfer:' .. id, each, 'draw_prize',
        ARGV[2])
      xfer_pend(KEYS[6], KEYS[7], id, record, ARGV[4])
      out[#out + 1] = id
      out[#out + 1] = record
    end
    redis.call('HSET', KEYS[4], uid, each)
    held = held - each
    paid = paid + each
  end
end
local refunded = held
if held > 0 then
  redis.call('HINCRBY', KEYS[1], f[4], held)
  ledger_move(KEYS[2], {KEYS[5]}, ARGV[3], ARGV[1], draw, 'user:' .. f[4], held,
    'draw_refund', ARGV[2])
end
redis.call('HSET', KEYS[3], 'state', 'settled', 'held', 0, 'paid', paid, 'refunded', refunded)
local reply = {'ok', paid, refunded}
for _, v in ipairs(out) do
  reply[#reply + 1] = v
end
return reply
