-- One process's per-tick report for one room: its hearts, its online count, its fans' scores.
-- Sums presence over live processes (a crashed process drops out after ttl), keeps the peak,
-- and publishes a 'counters' event only when a total changed since the last broadcast, so the
-- room sees at most one counters event per change whichever process reports it. (Who joined
-- is published beside this script, in the same transaction: store/presence.py.)
-- KEYS: 1 stats, 2 online, 3 online_seen, 4 unique (HLL), 5 fans, 6 names
-- ARGV: 1 channel, 2 process id, 3 now ms, 4 ttl ms, 5 local online, 6 hearts delta,
--       7 number of fan pairs n, then n × (user id, score delta, display name)
-- Reply: {online, hearts, unique, peak, chat, published (0/1)}
local proc, now, ttl = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local local_online, hearts_delta = tonumber(ARGV[5]), tonumber(ARGV[6])
if local_online > 0 then
  redis.call('HSET', KEYS[2], proc, local_online)
  redis.call('HSET', KEYS[3], proc, now)
else
  redis.call('HDEL', KEYS[2], proc)
  redis.call('HDEL', KEYS[3], proc)
end
local online = 0
local seen = redis.call('HGETALL', KEYS[3])
for i = 1, #seen, 2 do
  if tonumber(seen[i + 1]) < now - ttl then
    redis.call('HDEL', KEYS[2], seen[i])
    redis.call('HDEL', KEYS[3], seen[i])
  else
    online = online + tonumber(redis.call('HGET', KEYS[2], seen[i]) or '0')
  end
end
local hearts
if hearts_delta > 0 then
  hearts = redis.call('HINCRBY', KEYS[1], 'hearts', hearts_delta)
else
  hearts = tonumber(redis.call('HGET', KEYS[1], 'hearts') or '0')
end
local n = tonumber(ARGV[7])
for i = 0, n - 1 do
  local uid, delta, name = ARGV[8 + i * 3], ARGV[9 + i * 3], ARGV[10 + i * 3]
  if tonumber(delta) > 0 then
    redis.call('ZINCRBY', KEYS[5], delta, uid)
  end
  redis.call('HSET', KEYS[6], uid, name)
end
local st = redis.call('HMGET', KEYS[1], 'peak', 'chat', 'b_online', 'b_hearts', 'b_unique', 'b_chat')
local peak = tonumber(st[1] or '0')
if online > peak then
  peak = online
  redis.call('HSET', KEYS[1], 'peak', peak)
end
local chat = tonumber(st[2] or '0')
local unique = redis.call('PFCOUNT', KEYS[4])
local published = 0
if tonumber(st[3] or '-1') ~= online or tonumber(st[4] or '-1') ~= hearts
    or tonumber(st[5] or '-1') ~= unique or tonumber(st[6] or '-1') ~= chat then
  redis.call('HSET', KEYS[1], 'b_online', online, 'b_hearts', hearts, 'b_unique', unique,
             'b_chat', chat)
  publish_event(ARGV[1], ev_counters(ARGV[3], online, hearts, unique, peak, chat))
  published = 1
end
return {online, hearts, unique, peak, chat, published}
