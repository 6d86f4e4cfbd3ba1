-- A guest accepts a co-host invitation: the invitation becomes the guest's record, unless it
-- lapsed or the room already has as many guests as it takes (one step, so two guests
-- accepting at once never both pass).
-- KEYS: 1 the room's co-host hash
-- ARGV: 1 guest id, 2 now ms, 3 max guests, 4 the guest record (JSON), 5 key ttl ms
-- Reply: {'ok'} | {'no_invitation'} | {'full'}
local invite = redis.call('HGET', KEYS[1], 'i:' .. ARGV[1])
if not invite then
  return {'no_invitation'}
end
local expires = tonumber(string.match(invite, '^(%d+)|'))
if not expires or expires <= tonumber(ARGV[2]) then
  redis.call('HDEL', KEYS[1], 'i:' .. ARGV[1])
  return {'no_invitation'}
end
local guests = 0
for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
  if string.sub(field, 1, 2) == 'g:' and field ~= 'g:' .. ARGV[1] then
    guests = guests + 1
  end
end
if guests >= tonumber(ARGV[3]) then
  return {'full'}
end
redis.call('HDEL', KEYS[1], 'i:' .. ARGV[1])
redis.call('HSET', KEYS[1], 'g:' .. ARGV[1], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return {'ok'}
