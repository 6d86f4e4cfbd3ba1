-- The receiving side of a plain transfer: credit the payee once per transfer id, ledger
-- `xfer:<id> → user:<payee>`.
-- KEYS: 1 balances, 2 ledger, 3 payee's recent entries, 4 transfers in
-- ARGV: 1 now, 2 payee, 3 transfer id, 4 amount, 5 recent max, 6 reason, 7 ref
-- Reply: {'ok', balance} | {'repeat', first answer}
local seen = xfer_seen(KEYS[4], ARGV[3])
if seen then
  return {'repeat', seen}
end
local amount = tonumber(ARGV[4])
local bal = redis.call('HINCRBY', KEYS[1], ARGV[2], amount)
ledger_move(KEYS[2], {KEYS[3]}, ARGV[5], ARGV[1], 'xfer:' .. ARGV[3], 'user:' .. ARGV[2],
  amount, ARGV[6], ARGV[7])
xfer_mark(KEYS[4], ARGV[3], 'ok|' .. bal)
return {'ok', bal}
