-- One process's per-tick report for one room: its hearts, its online count, its fans' scores.
-- Sums presence over live processes (a crashed process drops out after ttl), keeps the peak
-- (see below), and publishes a 'counters' event only when a total changed since the last broadcast, so the
-- room sees at most one counters event per change whichever process reports it. (Who joined
-- is published by this script too, with the report, so it goes out once.)
-- Idempotent per process and tick: each report carries this process's tick id (increasing);
-- a report whose id is not above the last one applied here (KEYS[8]: process → 'id:ms') is a
-- retry of a report already counted (its reply was lost) and changes nothing. Entries of
-- processes not heard from for an hour are dropped.
-- Each call is also one sample of the room's online total for the show report's per-minute
-- series (KEYS[7]: o:<minute> adds the samples, n:<minute> counts them; their mean is the minute's
-- online, domain/show_report.py).
-- KEYS: 1 stats, 2 online, 3 online_seen, 4 unique (HLL), 5 fans, 6 names, 7 report minutes,
--       8 tick ids applied
-- ARGV: 1 channel, 2 process id, 3 now ms, 4 ttl ms, 5 local online, 6 hearts delta,
--       7 tick id, 8 the joins event JSON ('' when nobody joined),
--       9 number of fan pairs n, then n × (user id, score delta, display name)
-- Reply: {online, hearts, unique, peak, chat, published (0/1)} | {'counted'} (a retry)
local proc, now, ttl = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local tick_id = tonumber(ARGV[7])
local applied = redis.call('HGET', KEYS[8], proc)
if applied and tonumber(string.match(applied, '^(%d+)')) >= tick_id then
  return {'counted'}
end
local marks = redis.call('HGETALL', KEYS[8])
for i = 1, #marks, 2 do
  if tonumber(string.match(marks[i + 1], ':(%d+)$')) < now - 3600000 then
    redis.call('HDEL', KEYS[8], marks[i])
  end
end
redis.call('HSET', KEYS[8], proc, tick_id .. ':' .. now)
local local_online, hearts_delta = tonumber(ARGV[5]), tonumber(ARGV[6])
if local_online > 0 then
  redis.call('HSET', KEYS[2], proc, local_online)
  redis.call('HSET', KEYS[3], proc, now)
else
  redis.call('HDEL', KEYS[2], proc)
  redis.call('HDEL', KEYS[3], proc)
end
local online = 0
local expired_since = nil -- the earliest last report of a process that expired just now
local seen = redis.call('HGETALL', KEYS[3])
for i = 1, #seen, 2 do
  local at = tonumber(seen[i + 1])
  if at < now - ttl then
    redis.call('HDEL', KEYS[2], seen[i])
    redis.call('HDEL', KEYS[3], seen[i])
    if expired_since == nil or at < expired_since then expired_since = at end
  else
    online = online + tonumber(redis.call('HGET', KEYS[2], seen[i]) or '0')
  end
end
local minute = math.floor(now / 60000)
redis.call('HINCRBY', KEYS[7], 'o:' .. minute, online)
redis.call('HINCRBY', KEYS[7], 'n:' .. minute, 1)
local hearts
if hearts_delta > 0 then
  hearts = redis.call('HINCRBY', KEYS[1], 'hearts', hearts_delta)
else
  hearts = tonumber(redis.call('HGET', KEYS[1], 'hearts') or '0')
end
local n = tonumber(ARGV[9])
for i = 0, n - 1 do
  local uid, delta, name = ARGV[10 + i * 3], ARGV[11 + i * 3], ARGV[12 + i * 3]
  if tonumber(delta) > 0 then
    redis.call('ZINCRBY', KEYS[5], delta, uid)
  end
  redis.call('HSET', KEYS[6], uid, name)
end
local st = redis.call('HMGET', KEYS[1], 'peak', 'chat', 'b_online', 'b_hearts', 'b_unique', 'b_chat',
                     'peak_final', 'peak_log')
local peak = tonumber(st[1] or '0')
-- The peak is raised at once, but a raise can count viewers twice: a crashed process's entry
-- lives on for ttl while its viewers reconnect to other processes. So the raises of the last
-- ttl are kept ('peak_log': {ms, online} ascending); when a process expires, the raises after
-- its last report are undone (they may have counted its viewers after it died). A raise older
-- than ttl is final ('peak_final'): every process it counted has reported since, or expired
-- in this very call, before this point.
if expired_since ~= nil or online > peak then
  local log, final = {}, peak -- a room from before the log: its peak is final
  if st[8] then
    log, final = cjson.decode(st[8]), tonumber(st[7] or '0')
  end
  local kept = {}
  for _, raise in ipairs(log) do
    if expired_since ~= nil and raise[1] > expired_since then
      break -- this one and every later one may count a dead process's viewers
    elseif raise[1] < now - ttl then
      if raise[2] > final then final = raise[2] end
    else
      kept[#kept + 1] = raise
    end
  end
  peak = final
  if #kept > 0 and kept[#kept][2] > peak then peak = kept[#kept][2] end
  if online > peak then
    peak = online
    kept[#kept + 1] = {now, online}
  end
  redis.call('HSET', KEYS[1], 'peak', peak, 'peak_final', final,
             'peak_log', #kept > 0 and cjson.encode(kept) or '[]')
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
if ARGV[8] ~= '' then
  -- after the counters: every hub adds these up
  publish_event(ARGV[1], 'joins', ARGV[8])
end
return {online, hearts, unique, peak, chat, published}
