-- Record a draw's result once (drawing → drawn), give a coupon prize's copies to the winners
-- and free the copies nobody won, and append the `draw_result` event. The result is a pure
-- function of the frozen entrants and the seed, so two processes that computed it at once
-- computed the same; the first to get here records it, the other changes nothing.
-- KEYS: 1 draw hash, 2 coupons hash, 3 coupon claims hash, 4 seq, 5 events
-- ARGV: 1 now, 2 result JSON, 3 coupon id ('' for none), 4 winners wanted, 5 channel,
--       6 maxlen, 7 the `draw_result` event (JSON object without seq), 8.. the winners
-- Reply: {'ok', seq} | {'done'}
if redis.call('HGET', KEYS[1], 'state') ~= 'drawing' then
  return {'done'}
end
redis.call('HSET', KEYS[1], 'state', 'drawn', 'result', ARGV[2])
local winners = #ARGV - 7
if ARGV[3] ~= '' then
  for i = 8, #ARGV do
    redis.call('HINCRBY', KEYS[3], ARGV[3] .. ':' .. ARGV[i], 1)
  end
  local unused = tonumber(ARGV[4]) - winners
  local raw = redis.call('HGET', KEYS[2], ARGV[3])
  if unused > 0 and raw then
    local c = cjson.decode(raw)
    c.claimed = math.max(0, tonumber(c.claimed) - unused)
    redis.call('HSET', KEYS[2], ARGV[3], coupon_json(c, 'store'))
  end
end
return {'ok', append_event(KEYS[4], KEYS[5], ARGV[5], ARGV[6], 'draw_result', ARGV[7])}
