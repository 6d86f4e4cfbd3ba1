-- Credit a paid top-up to its user's wallet, exactly once, with its ledger entry.
-- The payment reference is recorded in the same step: a replayed gateway notice (same
-- reference) or a second notice for a top-up already paid credits nothing.
-- KEYS: 1 the top-up hash, 2 balances, 3 ledger, 4 the user's recent entries,
--       5 payment references (reference → top-up id)
-- ARGV: 1 now, 2 top-up id, 3 payment reference, 4 amount paid (cents), 5 recent max,
--       6 provider name
-- Reply: {'ok', balance} | {'not_found'} | {'replayed', top-up id} | {'paid', reference}
--        | {'amount_mismatch', amount}
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {'not_found'}
end
local seen = redis.call('HGET', KEYS[5], ARGV[3])
if seen then
  return {'replayed', seen}
end
local t = redis.call('HMGET', KEYS[1], 'user', 'amount', 'state', 'reference')
if t[3] == 'paid' then
  return {'paid', t[4]}
end
if tonumber(t[2]) ~= tonumber(ARGV[4]) then
  return {'amount_mismatch', t[2]}
end
local bal = redis.call('HINCRBY', KEYS[2], t[1], t[2])
ledger_move(KEYS[3], {KEYS[4]}, ARGV[5], ARGV[1], 'gateway:' .. ARGV[6], 'user:' .. t[1], t[2],
  'topup', ARGV[2])
redis.call('HSET', KEYS[1], 'state', 'paid', 'paid_at', ARGV[1], 'reference', ARGV[3])
redis.call('HSET', KEYS[5], ARGV[3], ARGV[2])
return {'ok', bal}
