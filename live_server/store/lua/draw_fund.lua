-- Fund a draw's cash prize: the creator's wallet → the draw's holding, with its ledger entry,
-- in one step on the creator's wallet bucket (the draw's cash lives there). A draw is funded
-- once.
-- KEYS: 1 balances, 2 ledger, 3 creator's recent entries, 4 draw's money hash,
--       5 the bucket's cash draws zset
-- ARGV: 1 now, 2 creator, 3 draw id, 4 total, 5 recent max, 6 per winner
-- Reply: {'ok', balance} | {'insufficient_funds', balance} | {'exists'}
if redis.call('EXISTS', KEYS[4]) == 1 then
  return {'exists'}
end
local total = tonumber(ARGV[4])
local bal = tonumber(redis.call('HGET', KEYS[1], ARGV[2]) or '0')
if bal < total then
  return {'insufficient_funds', bal}
end
bal = redis.call('HINCRBY', KEYS[1], ARGV[2], -total)
ledger_move(KEYS[2], {KEYS[3]}, ARGV[5], ARGV[1], 'user:' .. ARGV[2], 'draw:' .. ARGV[3],
  total, 'draw_fund', ARGV[3])
redis.call('HSET', KEYS[4], 'creator', ARGV[2], 'total', total, 'each', ARGV[6], 'held', total,
  'paid', 0, 'refunded', 0, 'state', 'held')
redis.call('ZADD', KEYS[5], ARGV[1], ARGV[3])
return {'ok', bal}
