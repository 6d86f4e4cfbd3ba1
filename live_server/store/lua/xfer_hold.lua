-- The paying side of a transfer to another wallet bucket: debit the payer, ledger
-- `user:<payer> → xfer:<id>`, the transfer pending (its record) and due for the reconciler.
-- With a memo (the payer's idempotency keys: field → 'x:<id>' while in flight, then the
-- answer), a key seen before moves nothing: 'repeat' with its answer, or 'held' with the
-- transfer still in flight (the caller finishes that one).
-- KEYS: 1 balances, 2 ledger, 3 payer's recent entries, 4 transfers out, 5 transfers due,
--       6 memo hash
-- ARGV: 1 now, 2 payer, 3 transfer id, 4 amount, 5 record JSON, 6 due at, 7 recent max,
--       8 reason, 9 ref, 10 memo field ('' for none), 11 memo ttl ms
-- Reply: {'ok', id, balance} | {'held', id, record} | {'repeat', answer}
--        | {'insufficient_funds', balance}
local id, memo = ARGV[3], ARGV[10]
if memo ~= '' then
  local seen = redis.call('HGET', KEYS[6], memo)
  if seen then
    if string.sub(seen, 1, 2) == 'x:' then
      local held = string.sub(seen, 3)
      local record = redis.call('HGET', KEYS[4], held)
      if record then
        return {'held', held, record}
      end
      -- given back meanwhile: the key is free again
    else
      return {'repeat', seen}
    end
  end
end
local record = redis.call('HGET', KEYS[4], id)
if record then
  return {'held', id, record}
end
local amount = tonumber(ARGV[4])
local bal = tonumber(redis.call('HGET', KEYS[1], ARGV[2]) or '0')
if bal < amount then
  return {'insufficient_funds', bal}
end
bal = redis.call('HINCRBY', KEYS[1], ARGV[2], -amount)
ledger_move(KEYS[2], {KEYS[3]}, ARGV[7], ARGV[1], 'user:' .. ARGV[2], 'xfer:' .. id, amount,
  ARGV[8], ARGV[9])
xfer_pend(KEYS[4], KEYS[5], id, ARGV[5], ARGV[6])
if memo ~= '' then
  redis.call('HSET', KEYS[6], memo, 'x:' .. id)
  redis.call('PEXPIRE', KEYS[6], tonumber(ARGV[11]))
end
return {'ok', id, bal}
