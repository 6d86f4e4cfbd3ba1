-- Open a lucky draw in a room: store it (its seed kept private, its commitment public), reserve
-- a coupon prize's copies (they cannot be claimed by anyone else meanwhile) or take a product
-- prize's units from the room's allotment (so they cannot be sold twice), list it, and append
-- its `draw` event, in one step on the room's slot. A cash prize was funded first
-- (draw_fund.lua, on the money slot); a product prize whose units the allotment lacks is
-- answered 'need' (the caller draws them from the catalogue and runs this again).
-- KEYS: 1 meta, 2 draw hash, 3 room's draws zset, 4 room's keyword draws hash, 5 coupons hash,
--       6 seq, 7 events, 8 allotment
-- ARGV: 1 now, 2 draw id, 3 draw JSON, 4 seed (hex), 5 end_at, 6 condition, 7 keyword
--       ('' for none), 8 coupon id ('' for none), 9 winners wanted, 10 channel, 11 maxlen,
--       12 the `draw` event (JSON object without seq), 13 product prize's stock field
--       ('<product>:<variant>', '' for none)
-- Reply: {'ok', seq} | {'not_found'} | {'invalid_state', state} | {'exists'} | {'no_coupon'}
--        | {'coupon_stopped'} | {'coupon_ended', end_at} | {'coupon_gone', left}
--        | {'need', units missing}
local _state, refused = open_room(KEYS[1])
if refused then
  return refused
end
if redis.call('EXISTS', KEYS[2]) == 1 then
  return {'exists'}
end
local wanted = tonumber(ARGV[9])
if ARGV[8] ~= '' then
  local c, gone = live_coupon(KEYS[5], ARGV[8], ARGV[1])
  if gone then
    return gone
  end
  local left = tonumber(c.quota) - tonumber(c.claimed)
  if left < wanted then
    return {'coupon_gone', left}
  end
  c.claimed = tonumber(c.claimed) + wanted
  redis.call('HSET', KEYS[5], ARGV[8], coupon_json(c, 'store'))
end
if ARGV[13] ~= '' then
  local have = tonumber(redis.call('HGET', KEYS[8], ARGV[13]) or '0')
  if have < wanted then
    return {'need', wanted - have}
  end
  redis.call('HINCRBY', KEYS[8], ARGV[13], -wanted)
end
redis.call('HSET', KEYS[2], 'json', ARGV[3], 'seed', ARGV[4], 'state', 'open', 'n', 0,
  'end_at', ARGV[5], 'cond', ARGV[6], 'kw', ARGV[7])
redis.call('ZADD', KEYS[3], ARGV[1], ARGV[2])
if ARGV[7] ~= '' then
  redis.call('HSET', KEYS[4], ARGV[2], ARGV[7])
end
return {'ok', append_event(KEYS[6], KEYS[7], ARGV[10], ARGV[11], 'draw', ARGV[12])}
