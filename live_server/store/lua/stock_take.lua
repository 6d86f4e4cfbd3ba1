-- A transfer's first step, on the source's slot (docs/ARCHITECTURE.md, "Stock"): take units
-- from the source's counter and record the transfer as pending, atomically, all or nothing.
-- A transfer id already pending answers what it took (a retried step takes nothing twice).
-- KEYS: 1 source stock hash, 2 the source's pending transfers (hash: id → record JSON)
-- ARGV: 1 transfer id, 2 field, 3 units wanted, 4 record JSON without "units" (an object),
--       5 out field ('' for none: on a catalogue, the units now out in rooms)
-- Reply: {'ok', units taken, units left at the source} | {'short', units left at the source}
local prior = redis.call('HGET', KEYS[2], ARGV[1])
if prior then
  return {'ok', cjson.decode(prior)['units'], tonumber(redis.call('HGET', KEYS[1], ARGV[2]) or '0')}
end
local want = tonumber(ARGV[3])
local have = tonumber(redis.call('HGET', KEYS[1], ARGV[2]) or '0')
if want <= 0 or have < want then
  return {'short', have}
end
local left = redis.call('HINCRBY', KEYS[1], ARGV[2], -want)
if ARGV[5] ~= '' then
  redis.call('HINCRBY', KEYS[1], ARGV[5], want)
end
redis.call('HSET', KEYS[2], ARGV[1], string.sub(ARGV[4], 1, -2) .. ',"units":' .. want .. '}')
return {'ok', want, left}
