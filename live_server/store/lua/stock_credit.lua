-- A transfer's second step, on the destination's slot: credit the units once per transfer id
-- (the ids credited here are remembered for ARGV[5] ms, far longer than a transfer stays
-- pending). A repeat, by a retry or by the reconciler, changes nothing.
-- KEYS: 1 destination stock hash, 2 the destination's credited ids (zset: id → when)
-- ARGV: 1 transfer id, 2 field, 3 units, 4 now, 5 keep ms,
--       6 out field ('' for none: on a catalogue, the units are no longer out),
--       7 hint field ('' for none), 8 hint value (the source's units left, for a room's stock
--       events)
-- Reply: {'ok', units now at the destination} | {'dup'}
if redis.call('ZSCORE', KEYS[2], ARGV[1]) then
  return {'dup'}
end
local now = tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[5]))
redis.call('ZADD', KEYS[2], now, ARGV[1])
local units = tonumber(ARGV[3])
local total = redis.call('HINCRBY', KEYS[1], ARGV[2], units)
if ARGV[6] ~= '' then
  redis.call('HINCRBY', KEYS[1], ARGV[6], -units)
end
if ARGV[7] ~= '' then
  redis.call('HSET', KEYS[1], ARGV[7], ARGV[8])
end
return {'ok', total}
