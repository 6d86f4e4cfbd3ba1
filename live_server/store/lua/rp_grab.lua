-- One grab, on the packet's own slot: open? not expired? eligible? not grabbed before? a share
-- left? → pop the next share, record the claim and the transfer out of the escrow as pending
-- (`:out`, user → cents|now). The caller then credits the grabber on the grabber's wallet
-- bucket (`rp_credit.lua`, once per packet and user); the reconciler drops the pending mark
-- once it is credited, and finishes a transfer whose caller died in between.
-- KEYS: 1 packet hash, 2 shares list, 3 claims hash (user → cents), 4 record list (claim
--       JSON in grab order), 5 eligible set (keyword packets), 6 pending transfers out hash
-- ARGV: 1 now, 2 user, 3 packet id, 4 name (JSON string), 5 sample every, 6 follows the
--       creator ('1' | '0'; followers packets), 7 in the creator's fan club ('1' | '0')
-- Reply: {'ok', amount, shares left, finished (0|1), the sampled red_packet_grabbed event
--        JSON or ''} (the caller publishes the event on the room's slot) | {'not_found'}
--        | {'not_open', open_at} | {'expired'} | {'not_eligible', keyword ('' unless a
--        keyword packet)} | {'already_grabbed', amount} | {'none_left'}
local raw = redis.call('HGET', KEYS[1], 'json')
if not raw then
  return {'not_found'}
end
local now, uid = tonumber(ARGV[1]), ARGV[2]
local p = cjson.decode(raw)
local state = redis.call('HGET', KEYS[1], 'state')
if now < tonumber(p['open_at']) then
  return {'not_open', p['open_at']}
end
if (state == 'finished' and redis.call('HGET', KEYS[1], 'reason') == 'expired')
    or now >= tonumber(p['expires_at']) then
  return {'expired'}
end
local cond = p['condition']
if (cond == 'keyword' and redis.call('SISMEMBER', KEYS[5], uid) == 0)
    or (cond == 'fan_club' and ARGV[7] ~= '1')
    or (cond == 'followers' and ARGV[6] ~= '1') then
  return {'not_eligible', cond == 'keyword' and p['keyword'] or ''}
end
local had = redis.call('HGET', KEYS[3], uid)
if had then
  return {'already_grabbed', tonumber(had)}
end
local share = redis.call('LPOP', KEYS[2])
if not share then
  return {'none_left'}
end
local amount = tonumber(share)
redis.call('HSET', KEYS[3], uid, amount)
redis.call('HSET', KEYS[6], uid, amount .. '|' .. ARGV[1])
redis.call('RPUSH', KEYS[4], '{"user":' .. cjson.encode(uid) .. ',"name":' .. ARGV[4] ..
  ',"amount":' .. amount .. ',"at":' .. ARGV[1] .. '}')
redis.call('HINCRBY', KEYS[1], 'left_amt', -amount)
local left = redis.call('HINCRBY', KEYS[1], 'left_n', -1)
if amount > tonumber(redis.call('HGET', KEYS[1], 'best_amt')) then
  redis.call('HSET', KEYS[1], 'best_amt', amount, 'best_user', uid, 'best_name', ARGV[4])
end
local grabbed = tonumber(p['shares']) - left
local notice = ''
if (grabbed - 1) % tonumber(ARGV[5]) == 0 then  -- "X grabbed ¥Y": lossy, sampled
  local _
  _, notice = ev_red_packet_grabbed(ARGV[1], ARGV[3], ARGV[4], amount, left)
end
local finished = 0
if left == 0 then
  finished = 1
  redis.call('HSET', KEYS[1], 'state', 'finished', 'reason', 'all_grabbed',
    'finished_at', ARGV[1])
end
return {'ok', amount, left, finished, notice}
