-- Claim one copy of a room's coupon, in one step: the room open, the user not banned from it,
-- the coupon active and inside its window, the user under its per-user cap, a copy left. Then
-- the coupon's claimed count and the user's copies go up together, and the copies left are
-- published (unsequenced `coupon`, coalesced per coupon by each hub).
-- KEYS: 1 meta, 2 bans, 3 coupons, 4 claims, 5 uses
-- ARGV: 1 channel, 2 now, 3 coupon id, 4 user id
-- Reply: {'ok', coupon (public view), copies the user claimed, copies the user used,
--         the room's creator}
--      | {'not_found'} | {'invalid_state', state} | {'banned'} | {'no_coupon'}
--      | {'coupon_stopped'} | {'coupon_not_started', start_at} | {'coupon_ended', end_at}
--      | {'coupon_limit', copies the user claimed} | {'coupon_gone'}
local _state, refused = open_room(KEYS[1])
if refused then
  return refused
end
local uid, now, cid = ARGV[4], tonumber(ARGV[2]), ARGV[3]
if redis.call('HEXISTS', KEYS[2], uid) == 1 then
  return {'banned'}
end
local c, gone = live_coupon(KEYS[3], cid, now)
if gone then
  return gone
end
if now < tonumber(c.start_at) then
  return {'coupon_not_started', c.start_at}
end
local field = cid .. ':' .. uid
local mine = tonumber(redis.call('HGET', KEYS[4], field) or '0')
if mine >= tonumber(c.per_user) then
  return {'coupon_limit', mine}
end
if tonumber(c.claimed) >= tonumber(c.quota) then
  return {'coupon_gone'}
end
c.claimed = tonumber(c.claimed) + 1
redis.call('HSET', KEYS[3], cid, coupon_json(c, 'store'))
mine = redis.call('HINCRBY', KEYS[4], field, 1)
publish_event(ARGV[1], ev_coupon(ARGV[2], cid, tonumber(c.quota) - c.claimed))
return {'ok', coupon_json(c, 'public'), mine,
        tonumber(redis.call('HGET', KEYS[5], field) or '0'),
        redis.call('HGET', KEYS[1], 'creator_id') or ''}
