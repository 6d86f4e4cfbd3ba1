-- Write a catalogue product and its stock counters in one step: a create, or an update that
-- sets some variants' units available and removes others. A removed variant must have no units
-- out in rooms (allotments, sales, orders), else nothing changes.
-- KEYS: 1 catalogue (hash: product id → JSON), 2 the creator's stock hash
-- ARGV: 1 product id, 2 product JSON, 3 'create' | 'update', 4 n (variants whose units are set),
--       5.. n pairs (variant id, units), then the removed variant ids
-- Reply: {'ok'} | {'not_found'} | {'units_out', variant id, units out}
local pid = ARGV[1]
if ARGV[3] == 'update' and redis.call('HEXISTS', KEYS[1], pid) == 0 then
  return {'not_found'}
end
local n = tonumber(ARGV[4])
local first_removed = 5 + 2 * n
for i = first_removed, #ARGV do
  local out = tonumber(redis.call('HGET', KEYS[2], 'out:' .. pid .. ':' .. ARGV[i]) or '0')
  if out > 0 then
    return {'units_out', ARGV[i], out}
  end
end
for i = first_removed, #ARGV do
  redis.call('HDEL', KEYS[2], pid .. ':' .. ARGV[i], 'out:' .. pid .. ':' .. ARGV[i])
end
for i = 5, first_removed - 1, 2 do
  redis.call('HSET', KEYS[2], pid .. ':' .. ARGV[i], ARGV[i + 1])
end
redis.call('HSET', KEYS[1], pid, ARGV[2])
return {'ok'}
