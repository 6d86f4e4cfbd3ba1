-- Join a creator's fan club: pay the fee from the member's wallet to the creator's, with its
-- ledger entry, and record the membership, atomically.
-- KEYS: 1 balances, 2 ledger, 3 member's recent entries, 4 creator's recent entries,
--       5 the creator's fan club hash
-- ARGV: 1 now, 2 member, 3 creator, 4 fee (cents, ≥ 0), 5 recent max
-- Reply: {'ok', member's balance} | {'member'} | {'insufficient_funds', balance}
if redis.call('HEXISTS', KEYS[5], ARGV[2]) == 1 then
  return {'member'}
end
local fee = tonumber(ARGV[4])
local bal = tonumber(redis.call('HGET', KEYS[1], ARGV[2]) or '0')
if bal < fee then
  return {'insufficient_funds', bal}
end
if fee > 0 then
  bal = redis.call('HINCRBY', KEYS[1], ARGV[2], -fee)
  redis.call('HINCRBY', KEYS[1], ARGV[3], fee)
  ledger_move(KEYS[2], {KEYS[3], KEYS[4]}, ARGV[5], ARGV[1], 'user:' .. ARGV[2],
    'user:' .. ARGV[3], fee, 'fan_club', ARGV[3])
end
redis.call('HSET', KEYS[5], ARGV[2], ARGV[1])
return {'ok', bal}
