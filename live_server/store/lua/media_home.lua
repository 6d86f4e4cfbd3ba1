-- A room's media home: which process holds its WebRTC publisher
-- ("<process id>|<url>|<kind>=<codec>,...").
-- KEYS: 1 the room's media_home key
-- ARGV: 1 op ('claim' | 'refresh' | 'release'), 2 process id, 3 '<url>|<codecs>', 4 ttl ms
-- Reply: {'ok', previous value or ''} (claim: this process is home now, taking over from
--        another one if there was one) | {'ok'} (refresh, release)
--        | {'lost', current value or ''} (refresh: no longer ours) | {'not_mine'} (release)
local cur = redis.call('GET', KEYS[1])
local mine = cur and string.sub(cur, 1, #ARGV[2] + 1) == ARGV[2] .. '|'
if ARGV[1] == 'claim' then
  redis.call('SET', KEYS[1], ARGV[2] .. '|' .. ARGV[3], 'PX', ARGV[4])
  return {'ok', cur or ''}
elseif ARGV[1] == 'refresh' then
  if not mine then
    return {'lost', cur or ''}
  end
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  return {'ok'}
end
if not mine then
  return {'not_mine'}
end
redis.call('DEL', KEYS[1])
return {'ok'}
