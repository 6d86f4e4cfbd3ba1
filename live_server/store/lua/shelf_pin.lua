-- Pin the product being explained (or clear the pin) and announce the card.
-- KEYS: 1 meta, 2 shelf, 3 products, 4 pinned, 5 seq, 6 events
-- ARGV: 1 channel, 2 maxlen, 3 now, 4 by (JSON string), 5 product id ('' clears)
-- Reply: {'ok', seq} | {'not_found'} | {'invalid_state', state} | {'not_on_shelf'}
local state, refused = open_room(KEYS[1])
if refused then
  return refused
end
local pid, card = ARGV[5], 'null'
if pid == '' then
  redis.call('DEL', KEYS[4])
else
  if not redis.call('LPOS', KEYS[2], pid) then
    return {'not_on_shelf'}
  end
  card = redis.call('HGET', KEYS[3], pid) or 'null'
  redis.call('SET', KEYS[4], pid)
end
return {'ok', append_event(KEYS[5], KEYS[6], ARGV[1], ARGV[2],
  ev_product_pinned(ARGV[3], card, ARGV[4]))}
