-- One entry into a draw, O(1): still open? not banned? eligible? then add the user to the
-- entrant set (a set: entering twice is a no-op that says so) and count them. The count is
-- published at most once per `every` ms (lossy `draw_entrants`, the latest kept per draw): in a
-- rush a per-entry notice would cost every viewer's socket far more than the entries do.
-- KEYS: 1 draw hash, 2 entrant set, 3 entrant names hash, 4 keyword senders set, 5 bans
-- ARGV: 1 now, 2 user, 3 name (JSON string), 4 eligible by a check made before ('1' | '0':
--       followers, fan club, buyers), 5 channel, 6 every (ms), 7 draw id
-- Reply: {'ok', added (1 | 0), entrants} | {'not_found'} | {'closed', end_at} | {'banned'}
--        | {'not_eligible', condition, keyword}
local f = redis.call('HMGET', KEYS[1], 'state', 'end_at', 'cond', 'kw', 'n', 'pub_at')
if not f[1] then
  return {'not_found'}
end
if f[1] ~= 'open' or tonumber(ARGV[1]) >= tonumber(f[2]) then
  return {'closed', f[2]}
end
local uid = ARGV[2]
if redis.call('HEXISTS', KEYS[5], uid) == 1 then
  return {'banned'}
end
if redis.call('SISMEMBER', KEYS[2], uid) == 1 then
  return {'ok', 0, tonumber(f[5])}
end
local cond = f[3]
if (cond == 'keyword' and redis.call('SISMEMBER', KEYS[4], uid) == 0)
    or ((cond == 'followers' or cond == 'fan_club' or cond == 'buyers') and ARGV[4] ~= '1') then
  return {'not_eligible', cond, f[4]}
end
redis.call('SADD', KEYS[2], uid)
redis.call('HSET', KEYS[3], uid, ARGV[3])
local n = redis.call('HINCRBY', KEYS[1], 'n', 1)
if tonumber(ARGV[1]) - tonumber(f[6] or '0') >= tonumber(ARGV[6]) then
  redis.call('HSET', KEYS[1], 'pub_at', ARGV[1])
  publish_event(ARGV[5], ev_draw_entrants(ARGV[1], ARGV[7], n))
end
return {'ok', 1, n}
