-- A guest's stream went on or off air: their record is rewritten only while it is still the
-- same acceptance (a guest removed meanwhile stays removed).
-- KEYS: 1 the room's co-host hash
-- ARGV: 1 guest id, 2 the acceptance's jti, 3 the new record (JSON)
-- Reply: {'ok'} | {'gone'}
local cur = redis.call('HGET', KEYS[1], 'g:' .. ARGV[1])
if not cur or cjson.decode(cur)['jti'] ~= ARGV[2] then
  return {'gone'}
end
redis.call('HSET', KEYS[1], 'g:' .. ARGV[1], ARGV[3])
return {'ok'}
