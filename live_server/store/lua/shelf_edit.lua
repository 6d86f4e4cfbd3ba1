-- Change a room's shelf (add, remove, move, reorder) and announce it with the new shelf.
-- KEYS: 1 meta, 2 shelf, 3 products, 4 pinned, 5 seq, 6 events
-- ARGV: 1 channel, 2 maxlen, 3 now, 4 by (JSON string), 5 action, 6 max shelf size, 7.. by action:
--       add: 7 product id, 8 position (0-based, -1 = end), 9 product JSON, 10 commission bp
--       remove: 7 product id | move: 7 product id, 8 position | order: 7.. every id, new order
-- Reply: {'ok', seq} | {'not_found'} | {'invalid_state', state} | {'not_on_shelf'}
--        | {'on_shelf'} | {'full'} | {'mismatch'}
local state, refused = open_room(KEYS[1])
if refused then
  return refused
end
local action, pid = ARGV[5], ARGV[7]
local ids = redis.call('LRANGE', KEYS[2], 0, -1)
local at = nil
for i, id in ipairs(ids) do
  if id == pid then at = i end
end
local function place(list, item, pos)
  pos = tonumber(pos)
  if pos < 0 or pos >= #list then
    table.insert(list, item)
  else
    table.insert(list, pos + 1, item)
  end
end
local unpinned = false
if action == 'add' then
  if at then return {'on_shelf'} end
  if #ids >= tonumber(ARGV[6]) then return {'full'} end
  redis.call('HSET', KEYS[3], pid, ARGV[9], 'bp:' .. pid, ARGV[10])
  place(ids, pid, ARGV[8])
elseif action == 'remove' then
  if not at then return {'not_on_shelf'} end
  table.remove(ids, at)
  if redis.call('GET', KEYS[4]) == pid then
    redis.call('DEL', KEYS[4])
    unpinned = true
  end
elseif action == 'move' then
  if not at then return {'not_on_shelf'} end
  table.remove(ids, at)
  place(ids, pid, ARGV[8])
else -- order: the same ids, a new order
  if #ARGV - 6 ~= #ids then return {'mismatch'} end
  local have = {}
  for _, id in ipairs(ids) do have[id] = true end
  local new = {}
  for i = 7, #ARGV do
    if not have[ARGV[i]] then return {'mismatch'} end
    have[ARGV[i]] = nil
    table.insert(new, ARGV[i])
  end
  ids = new
end
redis.call('DEL', KEYS[2])
if #ids > 0 then
  redis.call('RPUSH', KEYS[2], unpack(ids))
end
local cards = {}
for _, id in ipairs(ids) do
  table.insert(cards, redis.call('HGET', KEYS[3], id) or 'null')
end
local seq = append_event(KEYS[5], KEYS[6], ARGV[1], ARGV[2],
  ev_shelf_updated(ARGV[3], cards, ARGV[4]))
if unpinned then
  seq = append_event(KEYS[5], KEYS[6], ARGV[1], ARGV[2],
    ev_product_pinned(ARGV[3], 'null', ARGV[4]))
end
return {'ok', seq}
