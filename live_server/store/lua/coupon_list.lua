-- Read a room's coupons as one of their views (no writes): the cards are built by coupon_json
-- alone, so a list, the pinned card and the events never disagree on a coupon's shape.
-- KEYS: 1 coupons, 2 claims, 3 uses
-- ARGV: 1 view: 'public' (active coupons not yet ended), 'full' (every coupon, with counts),
--       'mine' (the coupons the user claimed); 2 user id ('' for none), 3 now
-- Reply: {card JSON, ...} ('public', 'full') | {card JSON, claimed, used, ...} ('mine')
local view, uid, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local all = redis.call('HGETALL', KEYS[1])
local out = {}
for i = 1, #all, 2 do
  local c = cjson.decode(all[i + 1])
  if view == 'full' then
    out[#out + 1] = coupon_json(c, 'full')
  elseif view == 'public' then
    if c.state == 'active' and now < tonumber(c.end_at) then
      out[#out + 1] = coupon_json(c, 'public')
    end
  elseif uid ~= '' then
    local field = all[i] .. ':' .. uid
    local claimed = tonumber(redis.call('HGET', KEYS[2], field) or '0')
    if claimed > 0 then
      out[#out + 1] = coupon_json(c, 'public')
      out[#out + 1] = claimed
      out[#out + 1] = tonumber(redis.call('HGET', KEYS[3], field) or '0')
    end
  end
end
return out
