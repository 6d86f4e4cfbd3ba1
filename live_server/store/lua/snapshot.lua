-- A room snapshot in one atomic step (so its seq matches its content), optionally recording the
-- visit of a joining viewer (unique viewers, the display name for the fans board).
-- KEYS: 1 meta, 2 seq, 3 stats, 4 online, 5 online_seen, 6 unique (HLL), 7 events, 8 deleted,
--       9 fans, 10 names, 11 mutes, 12 shelf, 13 shelf products, 14 pinned, 15 sales,
--       16 stock left, 17 pinned coupon id, 18 coupons
-- ARGV: 1 user id ('' for a guest), 2 visitor id ('' = no visit to record), 3 display name,
--       4 recent chat wanted, 5 top fans wanted, 6 now ms, 7 process ttl ms,
--       8 history entries to scan for recent chat
-- Reply: {'not_found'}
--      | {'ok', meta (HGETALL pairs), seq, hearts, peak, chat, online, unique,
--         recent chat (event JSON, newest first), fans (user, score, name triples), mute or nil,
--         shelf ids, shelf products (HGETALL pairs), pinned id or nil, sales (HGETALL pairs),
--         stock left (HGETALL pairs), pinned coupon (public card JSON) or false}
local meta = redis.call('HGETALL', KEYS[1])
if #meta == 0 then
  return {'not_found'}
end
local uid = ARGV[1]
if ARGV[2] ~= '' then
  redis.call('PFADD', KEYS[6], ARGV[2])
  if uid ~= '' then
    redis.call('HSET', KEYS[10], uid, ARGV[3])
  end
end
local now, ttl = tonumber(ARGV[6]), tonumber(ARGV[7])
local online = 0
local seen = redis.call('HGETALL', KEYS[5])
for i = 1, #seen, 2 do
  if tonumber(seen[i + 1]) >= now - ttl then
    online = online + tonumber(redis.call('HGET', KEYS[4], seen[i]) or '0')
  end
end
local st = redis.call('HMGET', KEYS[3], 'hearts', 'peak', 'chat')
local recent = tonumber(ARGV[4])
local chats = {}
if recent > 0 then
  local entries = redis.call('XREVRANGE', KEYS[7], '+', '-', 'COUNT', ARGV[8])
  for _, entry in ipairs(entries) do
    if #chats >= recent then
      break
    end
    local kind, body = stored_event(entry[2])
    if kind == 'chat' then
      local seq = string.match(entry[1], '^(%d+)')
      if redis.call('SISMEMBER', KEYS[8], seq) == 0 then
        chats[#chats + 1] = body
      end
    end
  end
end
local fans = {}
local top = tonumber(ARGV[5])
if top > 0 then
  local pairs_ = redis.call('ZREVRANGE', KEYS[9], 0, top - 1, 'WITHSCORES')
  for i = 1, #pairs_, 2 do
    fans[#fans + 1] = pairs_[i]
    fans[#fans + 1] = pairs_[i + 1]
    fans[#fans + 1] = redis.call('HGET', KEYS[10], pairs_[i]) or pairs_[i]
  end
end
local mute = false
if uid ~= '' then
  mute = redis.call('HGET', KEYS[11], uid)
end
local coupon = false
local coupon_id = redis.call('GET', KEYS[17])
if coupon_id then
  local raw = redis.call('HGET', KEYS[18], coupon_id)
  if raw then
    coupon = coupon_json(cjson.decode(raw), 'public')
  end
end
return {'ok', meta, redis.call('GET', KEYS[2]) or '0', st[1] or '0', st[2] or '0', st[3] or '0',
        online, redis.call('PFCOUNT', KEYS[6]), chats, fans, mute,
        redis.call('LRANGE', KEYS[12], 0, -1), redis.call('HGETALL', KEYS[13]),
        redis.call('GET', KEYS[14]), redis.call('HGETALL', KEYS[15]),
        redis.call('HGETALL', KEYS[16]), coupon}
