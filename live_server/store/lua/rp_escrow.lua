-- Launch a red packet, step 2 of 2 (on the packet's own slot): the escrow. The total debited
-- from the creator by `rp_create.lua` and the precomputed shares are stored with the packet;
-- a packet already in escrow is left as it is (the launch's caller and the reconciler may both
-- run this step: it happens once).
-- KEYS: 1 packet hash, 2 shares list
-- ARGV: 1 now, 2 packet JSON, 3 total, 4.. the shares in grab order
-- Reply: {'ok', 1 (put in escrow now) | 0 (already there)}
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {'ok', 0}
end
local count = #ARGV - 3
for i = 4, #ARGV, 1000 do
  redis.call('RPUSH', KEYS[2], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
-- a packet without a countdown opens at once; the clock opens the others at open_at
local state = 'open'
if tonumber(cjson.decode(ARGV[2])['open_at']) > tonumber(ARGV[1]) then
  state = 'waiting'
end
redis.call('HSET', KEYS[1], 'json', ARGV[2], 'state', state, 'left_n', count,
  'left_amt', ARGV[3], 'refunded', 0, 'best_amt', 0)
return {'ok', 1}
