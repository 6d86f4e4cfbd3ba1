-- A room's event stream went back (the store lost writes): give it a new epoch, so no client's
-- old position is taken for a position in the new stream. Only for a room that exists (an HSET
-- on a missing meta hash would make up a room).
-- KEYS: 1 meta
-- ARGV: 1 the new epoch
-- Reply: 1 when set, 0 when the room does not exist
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
redis.call('HSET', KEYS[1], 'epoch', ARGV[1])
return 1
