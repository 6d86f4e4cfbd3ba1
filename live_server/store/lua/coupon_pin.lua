-- Pin a coupon in the room (the "claim" banner), or clear the pin, and announce it with the
-- coupon's public card. Only an active coupon that has not ended may be pinned.
-- KEYS: 1 meta, 2 coupons, 3 pinned, 4 seq, 5 events
-- ARGV: 1 channel, 2 maxlen, 3 now, 4 by (JSON string), 5 coupon id ('' clears)
-- Reply: {'ok', seq, card JSON or 'null'} | {'not_found'} | {'invalid_state', state}
--      | {'no_coupon'} | {'coupon_stopped'} | {'coupon_ended', end_at}
local _state, refused = open_room(KEYS[1])
if refused then
  return refused
end
local cid, card = ARGV[5], 'null'
if cid == '' then
  redis.call('DEL', KEYS[3])
else
  local c, gone = live_coupon(KEYS[2], cid, ARGV[3])
  if gone then
    return gone
  end
  card = coupon_json(c, 'public')
  redis.call('SET', KEYS[3], cid)
end
return {'ok', append_event(KEYS[4], KEYS[5], ARGV[1], ARGV[2],
  ev_coupon_pinned(ARGV[3], card, ARGV[4])), card}
