-- A red packet read in one atomic step (read only; a script rather than MULTI for the reason
-- given in events_since.lua): its hash and record for the packet's view, and with ARGV[1] =
-- 'books' also the shares left, the claims and the pending transfers out (the audit's books,
-- and the claims of an empty packet).
-- KEYS: 1 packet hash, 2 record list, 3 shares list, 4 claims hash, 5 pending transfers out
-- ARGV: 1 'view' | 'books'
-- Reply: {hash pairs, record} | {hash pairs, record, shares, claims pairs, out pairs}
local fields = redis.call('HGETALL', KEYS[1])
if ARGV[1] ~= 'books' then
  return {fields, redis.call('LRANGE', KEYS[2], 0, -1)}
end
return {fields, {}, redis.call('LRANGE', KEYS[3], 0, -1), redis.call('HGETALL', KEYS[4]),
        redis.call('HGETALL', KEYS[5])}
