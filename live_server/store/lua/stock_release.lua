-- Give a room's allotment back to the catalogue: every variant of one product (ARGV[1]), or
-- everything (''), each taken and recorded as a pending transfer in one step (then credited to
-- the catalogue and acknowledged like any transfer). With ARGV[5] = 'ended' only an ended room
-- gives its allotment back (the clock's check and the take in one step).
-- KEYS: 1 the room's allotment, 2 the room's pending transfers, 3 the room's meta
-- ARGV: 1 product id or '', 2 the catalogue's holder ('u|<creator>'), 3 now,
--       4 transfer id prefix, 5 'always' | 'ended'
-- Reply: {'ok', record JSON...} | {'live'} (ARGV[5] 'ended' and the room is not ended)
if ARGV[5] == 'ended' and redis.call('HGET', KEYS[3], 'state') ~= 'ended' then
  return {'live'}
end
local fields = redis.call('HGETALL', KEYS[1])
local prefix = ARGV[1] .. ':'
local out = {'ok'}
for i = 1, #fields, 2 do
  local field, units = fields[i], tonumber(fields[i + 1])
  local hint = string.sub(field, 1, 4) == 'cat:'
  if not hint and (ARGV[1] == '' or string.sub(field, 1, #prefix) == prefix) then
    redis.call('HDEL', KEYS[1], field)
    if units > 0 then
      local id = ARGV[4] .. '.' .. #out
      local record = cjson.encode({id = id, to = ARGV[2], field = field, out = 'out:' .. field,
                                   units = units, at = tonumber(ARGV[3])})
      redis.call('HSET', KEYS[2], id, record)
      out[#out + 1] = record
    end
  end
end
return out
