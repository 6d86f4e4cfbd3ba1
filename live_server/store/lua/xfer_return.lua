-- A transfer the receiving side refused (and recorded as refused, so it can never be received
-- later): the money goes back to the payer, ledger `xfer:<id> → user:<payer>`, the transfer is
-- no longer pending, and the payer's idempotency key is free again.
-- KEYS: 1 balances, 2 ledger, 3 payer's recent entries, 4 transfers out, 5 transfers due,
--       6 memo hash
-- ARGV: 1 now, 2 payer, 3 transfer id, 4 recent max, 5 memo field ('' for none), 6 ref
-- Reply: {'ok', balance} | {'gone'} (given back or received already)
local record = redis.call('HGET', KEYS[4], ARGV[3])
if not record then
  return {'gone'}
end
local amount = tonumber(cjson.decode(record)['amount'])
local bal = redis.call('HINCRBY', KEYS[1], ARGV[2], amount)
ledger_move(KEYS[2], {KEYS[3]}, ARGV[4], ARGV[1], 'xfer:' .. ARGV[3], 'user:' .. ARGV[2],
  amount, 'xfer_return', ARGV[6])
redis.call('HDEL', KEYS[4], ARGV[3])
redis.call('ZREM', KEYS[5], ARGV[3])
if ARGV[5] ~= '' then
  redis.call('HDEL', KEYS[6], ARGV[5])
end
return {'ok', bal}
