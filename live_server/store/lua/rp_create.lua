-- Launch a red packet, step 1 of 2 (on the creator's wallet bucket: every key below is on
-- it): take its total from the creator's wallet (ledger user → packet), record the launch as
-- pending (the packet, its shares, its first due time: what step 2 needs) and index the packet
-- (the room's list, the clock, the audit's list, the unsettled packets the reconciler walks).
-- Step 2, `rp_escrow.lua` on the packet's own slot, puts the money and the shares in escrow.
-- The launch stays recorded until the packet is settled (the reconciler can rebuild a lost
-- escrow from it). A launch with an idempotency key the creator used before answers the
-- packet it launched, and nothing moves.
-- KEYS: 1 balances, 2 ledger, 3 creator's recent entries, 4 room's packets zset, 5 due zset,
--       6 every packet zset, 7 room's keyword packets hash, 8 the creator's launch keys hash,
--       9 pending launches hash, 10 unsettled packets zset (the reconciler's schedule: packet
--       → when to look at it)
-- ARGV: 1 now, 2 creator, 3 packet id, 4 the pending launch (JSON), 5 total, 6 recent max,
--       7 first due ms, 8 keyword ('' for none), 9 idempotency key ('' for none), 10 when the
--       reconciler first looks at it (ms)
-- Reply: {'ok', balance} | {'dup', packet id, balance} | {'insufficient_funds', balance}
--        | {'exists'}
if ARGV[9] ~= '' then
  local prior = redis.call('HGET', KEYS[8], ARGV[9])
  if prior then
    return {'dup', prior, tonumber(redis.call('HGET', KEYS[1], ARGV[2]) or '0')}
  end
end
if redis.call('ZSCORE', KEYS[6], ARGV[3]) then
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
redis.call('HSET', KEYS[9], ARGV[3], ARGV[4])
redis.call('ZADD', KEYS[10], ARGV[10], ARGV[3])
redis.call('ZADD', KEYS[4], ARGV[1], ARGV[3])
redis.call('ZADD', KEYS[5], ARGV[7], ARGV[3])
redis.call('ZADD', KEYS[6], ARGV[1], ARGV[3])
if ARGV[8] ~= '' then
  redis.call('HSET', KEYS[7], ARGV[3], ARGV[8])
end
if ARGV[9] ~= '' then
  redis.call('HSET', KEYS[8], ARGV[9], ARGV[3])
end
return {'ok', bal}
