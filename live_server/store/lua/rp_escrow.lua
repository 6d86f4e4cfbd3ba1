-- Launch a red packet, step 2 of 2 (on the packet's own slot): the escrow. The total debited
-- from the creator by `rp_create.lua` and the precomputed shares are stored with the packet;
-- a packet already in escrow is left as it is (the launch's caller and the reconciler may both
-- run this step: it happens once).
-- The reconciler also runs it for an escrow that a failover lost after the wallet buckets had
-- credited some of its transfers (unacknowledged writes, `store.ack_replicas` = 0): those
-- credits are passed in, and the escrow is rebuilt without them (each credited grab is a claim
-- with its share taken out, a credited refund finishes the packet), so the books still add up.
-- KEYS: 1 packet hash, 2 shares list, 3 claims hash, 4 record list
-- ARGV: 1 now, 2 packet JSON, 3 total, 4 n (credited transfers), 5 .. 4+2n: field (grabber id
--       or '~refund'), cents; then the shares in grab order
-- Reply: {'ok', 1 (put in escrow now) | 0 (already there)}
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {'ok', 0}
end
local now, total = tonumber(ARGV[1]), tonumber(ARGV[3])
local n = tonumber(ARGV[4])
local first = 5 + 2 * n
local shares = {}
for i = first, #ARGV do
  shares[#shares + 1] = ARGV[i]
end
local p = cjson.decode(ARGV[2])
local left_amt, refunded = total, nil
local best_amt, best_user = 0, nil
for i = 5, first - 1, 2 do
  local field, cents = ARGV[i], tonumber(ARGV[i + 1])
  if field == '~refund' then
    refunded = cents
  else
    for j = 1, #shares do  -- the credited share leaves the list
      if tonumber(shares[j]) == cents then
        table.remove(shares, j)
        break
      end
    end
    redis.call('HSET', KEYS[3], field, cents)
    redis.call('RPUSH', KEYS[4], '{"user":' .. cjson.encode(field) .. ',"name":' ..
      cjson.encode(field) .. ',"amount":' .. cents .. ',"at":' .. now .. '}')
    left_amt = left_amt - cents
    if cents > best_amt then
      best_amt, best_user = cents, field
    end
  end
end
for i = 1, #shares, 1000 do
  redis.call('RPUSH', KEYS[2], unpack(shares, i, math.min(i + 999, #shares)))
end
-- a packet without a countdown opens at once; the clock opens the others at open_at
local state = 'open'
if tonumber(p['open_at']) > now then
  state = 'waiting'
end
redis.call('HSET', KEYS[1], 'json', ARGV[2], 'state', state, 'left_n', #shares,
  'left_amt', left_amt, 'refunded', 0, 'best_amt', best_amt)
if best_user then
  redis.call('HSET', KEYS[1], 'best_user', best_user, 'best_name', cjson.encode(best_user))
end
if refunded then
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'state', 'finished', 'reason', 'expired', 'finished_at', now,
    'left_amt', 0, 'refunded', refunded)
elseif #shares == 0 then
  redis.call('HSET', KEYS[1], 'state', 'finished', 'reason', 'all_grabbed', 'finished_at', now)
end
return {'ok', 1}
