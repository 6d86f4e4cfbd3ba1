-- Create a red packet: take its total from the creator's wallet into the packet, store the
-- precomputed shares, schedule it (open now, or waiting for its countdown). All money keys
-- share the {wallets} hash tag: one slot. A launch with an idempotency key the creator used
-- before answers the packet it launched, and nothing moves.
-- KEYS: 1 balances, 2 ledger, 3 creator's recent entries, 4 packet hash, 5 shares list,
--       6 room's packets zset, 7 due zset, 8 every packet zset, 9 room's keyword packets hash,
--       10 the creator's launch keys hash
-- ARGV: 1 now, 2 creator, 3 packet id, 4 packet JSON, 5 total, 6 recent max, 7 first due ms,
--       8 keyword ('' for none), 9 idempotency key ('' for none), 10.. the shares in grab order
-- Reply: {'ok', balance} | {'dup', packet id, balance} | {'insufficient_funds', balance}
--        | {'exists'}
if ARGV[9] ~= '' then
  local prior = redis.call('HGET', KEYS[10], ARGV[9])
  if prior then
    return {'dup', prior, tonumber(redis.call('HGET', KEYS[1], ARGV[2]) or '0')}
  end
end
if redis.call('EXISTS', KEYS[4]) == 1 then
  return {'exists'}
end
local total = tonumber(ARGV[5])
local bal = tonumber(redis.call('HGET', KEYS[1], ARGV[2]) or '0')
if bal < total then
  return {'insufficient_funds', bal}
end
bal = redis.call('HINCRBY', KEYS[1], ARGV[2], -total)
ledger_move(KEYS[2], {KEYS[3]}, ARGV[6], ARGV[1], 'user:' .. ARGV[2], 'packet:' .. ARGV[3],
  total, 'red_packet', ARGV[3])
local count = #ARGV - 9
for i = 10, #ARGV, 1000 do
  redis.call('RPUSH', KEYS[5], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
-- a packet without a countdown opens at once; the clock opens the others at open_at
local state = 'open'
if tonumber(cjson.decode(ARGV[4])['open_at']) > tonumber(ARGV[1]) then
  state = 'waiting'
end
redis.call('HSET', KEYS[4], 'json', ARGV[4], 'state', state, 'left_n', count,
  'left_amt', total, 'refunded', 0, 'best_amt', 0)
redis.call('ZADD', KEYS[6], ARGV[1], ARGV[3])
redis.call('ZADD', KEYS[7], ARGV[7], ARGV[3])
redis.call('ZADD', KEYS[8], ARGV[1], ARGV[3])
if ARGV[8] ~= '' then
  redis.call('HSET', KEYS[9], ARGV[3], ARGV[8])
end
if ARGV[9] ~= '' then
  redis.call('HSET', KEYS[10], ARGV[9], ARGV[3])
end
return {'ok', bal}
