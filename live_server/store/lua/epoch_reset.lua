-- A room's event stream went back (the store lost writes): give it a new epoch, so no client's
-- old position is taken for a position in the new stream. Only for a room that exists (an HSET
-- on a missing meta hash would make up a room). With ARGV[2], only while the stream is still in
-- that epoch: clients that find the same loss at once make one new epoch between them, not one
-- each (so a client that has just been given the new one is not sent back to a snapshot again).
-- KEYS: 1 meta
-- ARGV: 1 the new epoch, 2 (optional) the epoch it replaces
-- Reply: 1 when set, 0 when the room does not exist, -1 when the epoch is no longer ARGV[2]
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
if ARGV[2] ~= nil and (redis.call('HGET', KEYS[1], 'epoch') or '') ~= ARGV[2] then
  return -1
end
redis.call('HSET', KEYS[1], 'epoch', ARGV[1])
return 1
