-- One grab, atomically: open? not expired? eligible? not grabbed before? a share left? → pop
-- the next share, record the claim, credit the grabber (ledger entry in the same script).
-- KEYS: 1 balances, 2 ledger, 3 grabber's recent entries, 4 packet hash, 5 shares list,
--       6 claims hash (user → cents), 7 record list (claim JSON in grab order),
--       8 eligible set (keyword packets), 9 room's keyword packets hash,
--       10 the creator's fan club hash
-- ARGV: 1 now, 2 user, 3 packet id, 4 name (JSON string), 5 recent max, 6 unused,
--       7 sample every, 8 follows the creator ('1' | '0'; followers packets)
-- Reply: {'ok', amount, shares left, finished (0|1), the sampled red_packet_grabbed event
--        JSON or ''} (this script runs on the money slot: the caller publishes the event on
--        the room's slot) | {'not_found'} | {'not_open', open_at}
--        | {'expired'} | {'not_eligible', keyword ('' unless a keyword packet)}
--        | {'already_grabbed', amount} | {'none_left'}
local raw = redis.call('HGET', KEYS[4], 'json')
if not raw then
  return {'not_found'}
end
local now, uid = tonumber(ARGV[1]), ARGV[2]
local p = cjson.decode(raw)
local state = redis.call('HGET', KEYS[4], 'state')
if now < tonumber(p['open_at']) then
  return {'not_open', p['open_at']}
end
if (state == 'finished' and redis.call('HGET', KEYS[4], 'reason') == 'expired')
    or now >= tonumber(p['expires_at']) then
  return {'expired'}
end
local cond = p['condition']
if (cond == 'keyword' and redis.call('SISMEMBER', KEYS[8], uid) == 0)
    or (cond == 'fan_club' and redis.call('HEXISTS', KEYS[10], uid) == 0)
    or (cond == 'followers' and ARGV[8] ~= '1') then
  return {'not_eligible', cond == 'keyword' and p['keyword'] or ''}
end
local had = redis.call('HGET', KEYS[6], uid)
if had then
  return {'already_grabbed', tonumber(had)}
end
local share = redis.call('LPOP', KEYS[5])
if not share then
  return {'none_left'}
end
local amount = tonumber(share)
redis.call('HSET', KEYS[6], uid, amount)
redis.call('RPUSH', KEYS[7], '{"user":' .. cjson.encode(uid) .. ',"name":' .. ARGV[4] ..
  ',"amount":' .. amount .. ',"at":' .. ARGV[1] .. '}')
redis.call('HINCRBY', KEYS[1], uid, amount)
ledger_move(KEYS[2], {KEYS[3]}, ARGV[5], ARGV[1], 'packet:' .. ARGV[3], 'user:' .. uid, amount,
  'grab', ARGV[3])
redis.call('HINCRBY', KEYS[4], 'left_amt', -amount)
local left = redis.call('HINCRBY', KEYS[4], 'left_n', -1)
if amount > tonumber(redis.call('HGET', KEYS[4], 'best_amt')) then
  redis.call('HSET', KEYS[4], 'best_amt', amount, 'best_user', uid, 'best_name', ARGV[4])
end
local grabbed = tonumber(p['shares']) - left
local notice = ''
if (grabbed - 1) % tonumber(ARGV[7]) == 0 then  -- "X grabbed ¥Y": lossy, sampled
  local _
  _, notice = ev_red_packet_grabbed(ARGV[1], ARGV[3], ARGV[4], amount, left)
end
local finished = 0
if left == 0 then
  finished = 1
  redis.call('HSET', KEYS[4], 'state', 'finished', 'reason', 'all_grabbed',
    'finished_at', ARGV[1])
  redis.call('HDEL', KEYS[9], ARGV[3])
end
return {'ok', amount, left, finished, notice}
