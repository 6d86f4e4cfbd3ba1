-- Stop a coupon: no new claims from now on; copies already claimed stay usable until its
-- end_at. A pinned coupon is unpinned at the same time (`coupon_pinned` with null). Stopping a
-- stopped coupon changes nothing and appends nothing.
-- KEYS: 1 meta, 2 coupons, 3 pinned, 4 seq, 5 events
-- ARGV: 1 channel, 2 maxlen, 3 now, 4 by (JSON string), 5 coupon id
-- Reply: {'ok', coupon JSON (full view), seq of the unpin or 0} | {'not_found'}
--      | {'no_coupon'}
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {'not_found'}
end
local cid = ARGV[5]
local raw = redis.call('HGET', KEYS[2], cid)
if not raw then
  return {'no_coupon'}
end
local c = cjson.decode(raw)
if c.state == 'stopped' then
  return {'ok', coupon_json(c, 'full'), 0}
end
c.state = 'stopped'
redis.call('HSET', KEYS[2], cid, coupon_json(c, 'store'))
local seq = 0
if redis.call('GET', KEYS[3]) == cid then
  redis.call('DEL', KEYS[3])
  seq = append_event(KEYS[4], KEYS[5], ARGV[1], ARGV[2],
    ev_coupon_pinned(ARGV[3], 'null', ARGV[4]))
end
return {'ok', coupon_json(c, 'full'), seq}
