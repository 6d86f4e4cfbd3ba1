-- Store a new coupon of the room: the room open, room for one more coupon, every product it
-- names on the shelf now. No event: viewers meet a coupon when it is pinned or listed.
-- KEYS: 1 meta, 2 shelf, 3 coupons
-- ARGV: 1 coupon JSON (as parsed by domain/coupons.py), 2 coupons a room may hold
-- Reply: {'ok', coupon JSON (full view)} | {'not_found'} | {'invalid_state', state} | {'full'}
--      | {'not_on_shelf', product id}
local _state, refused = open_room(KEYS[1])
if refused then
  return refused
end
local c = cjson.decode(ARGV[1])
if redis.call('HLEN', KEYS[3]) >= tonumber(ARGV[2]) then
  return {'full'}
end
for _, pid in ipairs(c.product_ids) do
  if not redis.call('LPOS', KEYS[2], pid) then
    return {'not_on_shelf', pid}
  end
end
redis.call('HSET', KEYS[3], c.id, coupon_json(c, 'store'))
return {'ok', coupon_json(c, 'full')}
