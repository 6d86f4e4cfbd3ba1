-- Settle a draw's cash prize once: its holding → each winner (the amount per winner), what is
-- left → back to the creator, each with its ledger entry, in one step on the money slot.
-- Settling with no winners refunds the whole holding (a draw that could not be opened).
-- KEYS: 1 balances, 2 ledger, 3 draw's money hash, 4 draw's payouts hash (user → cents),
--       5 creator's recent entries, 6.. each winner's recent entries (in ARGV's order)
-- ARGV: 1 now, 2 draw id, 3 recent max, 4.. the winners
-- Reply: {'ok', paid, refunded} | {'done'} | {'gone'}
local f = redis.call('HMGET', KEYS[3], 'state', 'each', 'held', 'creator')
if not f[1] then
  return {'gone'}
end
if f[1] ~= 'held' then
  return {'done'}
end
local each, held, draw = tonumber(f[2]), tonumber(f[3]), 'draw:' .. ARGV[2]
local paid = 0
for i = 4, #ARGV do
  local uid = ARGV[i]
  if held >= each and redis.call('HEXISTS', KEYS[4], uid) == 0 then
    redis.call('HINCRBY', KEYS[1], uid, each)
    ledger_move(KEYS[2], {KEYS[i + 2]}, ARGV[3], ARGV[1], draw, 'user:' .. uid, each,
      'draw_prize', ARGV[2])
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
return {'ok', paid, refunded}
