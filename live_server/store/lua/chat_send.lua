-- Accept one chat message: ban, mute, slow mode and the token bucket, then sequence it.
-- KEYS: 1 meta, 2 bans, 3 mutes, 4 rate bucket, 5 slow-mode key, 6 seq, 7 events, 8 stats,
--       9 fans, 10 chat-per-minute counter
-- ARGV: 1 channel, 2 maxlen, 3 event type ('chat'), 4 event body, 5 user id, 6 now ms,
--       7 rate per s, 8 burst, 9 is moderator ('1'/'0'), 10 fan score per message
-- Reply: {'ok', seq} | {'not_found'} | {'invalid_state', state} | {'banned'}
--        | {'muted', until} | {'slow_mode', retry_ms} | {'rate_limited', retry_ms}
local uid, now = ARGV[5], tonumber(ARGV[6])
local meta = redis.call('HMGET', KEYS[1], 'state', 'slow_mode_s')
if not meta[1] then
  return {'not_found'}
end
if meta[1] == 'ended' then
  return {'invalid_state', meta[1]}
end
if redis.call('HEXISTS', KEYS[2], uid) == 1 then
  return {'banned'}
end
local mute = redis.call('HGET', KEYS[3], uid)
if mute then
  local until_ms = tonumber(cjson.decode(mute)['until'])
  if until_ms > now then
    return {'muted', until_ms}
  end
  redis.call('HDEL', KEYS[3], uid)
end
local slow_s = tonumber(meta[2] or '0') or 0
local moderator = ARGV[9] == '1'
if slow_s > 0 and not moderator then
  local left = redis.call('PTTL', KEYS[5])
  if left > 0 then
    return {'slow_mode', left}
  end
end
-- Token bucket: refill at rate per second up to burst; one token per message.
local rate, burst = tonumber(ARGV[7]), tonumber(ARGV[8])
local bucket = redis.call('HMGET', KEYS[4], 'tokens', 'ts')
local tokens = tonumber(bucket[1] or burst) or burst
local last = tonumber(bucket[2] or now) or now
tokens = math.min(burst, tokens + math.max(0, now - last) * rate / 1000)
if tokens < 1 then
  return {'rate_limited', math.ceil((1 - tokens) * 1000 / rate)}
end
redis.call('HSET', KEYS[4], 'tokens', tostring(tokens - 1), 'ts', now)
redis.call('PEXPIRE', KEYS[4], math.ceil(burst * 1000 / rate) + 1000)
if slow_s > 0 and not moderator then
  redis.call('SET', KEYS[5], '1', 'PX', slow_s * 1000)
end
local seq = append_event(KEYS[6], KEYS[7], ARGV[1], ARGV[2], ARGV[3], ARGV[4])
redis.call('HINCRBY', KEYS[8], 'chat', 1)
redis.call('ZINCRBY', KEYS[9], ARGV[10], uid)
redis.call('INCR', KEYS[10])
-- kept two days: the show report's chat-per-minute series reads every minute of the show
redis.call('PEXPIRE', KEYS[10], 172800000)
return {'ok', seq}
