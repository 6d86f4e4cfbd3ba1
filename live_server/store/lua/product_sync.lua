-- Refresh a room's copy of a catalogue product (edit or take-down); announce it if on the shelf.
-- A take-down by ops is also told to the creator's own sockets in the room (addressed, not
-- stored), whether or not this room has the product: the studio they have open is in one of
-- their rooms, not necessarily one that sells it.
-- KEYS: 1 meta, 2 shelf, 3 products, 4 seq, 5 events
-- ARGV: 1 channel, 2 maxlen, 3 now, 4 product id, 5 product JSON, 6 commission bp,
--       7 creator to tell of a take-down by ops ('' or absent: none), 8 title JSON,
--       9 reason JSON
-- Reply: {'ok', seq (0: not on the shelf or room ended)} | {'absent'}
local pid = ARGV[4]
local state = redis.call('HGET', KEYS[1], 'state')
if ARGV[7] and ARGV[7] ~= '' and state and state ~= 'ended' then
  publish_event(ARGV[1], ev_product_taken_down(ARGV[3], ARGV[7], pid, ARGV[8], ARGV[9]))
end
if redis.call('HEXISTS', KEYS[3], pid) == 0 then
  return {'absent'}
end
redis.call('HSET', KEYS[3], pid, ARGV[5], 'bp:' .. pid, ARGV[6])
if state == 'ended' or not state or not redis.call('LPOS', KEYS[2], pid) then
  return {'ok', 0}
end
return {'ok', append_event(KEYS[4], KEYS[5], ARGV[1], ARGV[2],
  ev_product_updated(ARGV[3], ARGV[5]))}
