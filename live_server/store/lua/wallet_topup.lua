-- Bring money into a user's wallet (development top-up) with its ledger entry.
-- KEYS: 1 balances, 2 ledger, 3 the user's recent entries
-- ARGV: 1 now, 2 user, 3 amount (cents, > 0), 4 recent max, 5 reference
-- Reply: {'ok', balance}
local bal = redis.call('HINCRBY', KEYS[1], ARGV[2], ARGV[3])
ledger_move(KEYS[2], {KEYS[3]}, ARGV[4], ARGV[1], 'topup', 'user:' .. ARGV[2], ARGV[3], 'topup',
  ARGV[5])
return {'ok', bal}
