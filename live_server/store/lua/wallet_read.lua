-- A wallet page in one atomic step (read only; a script rather than MULTI for the reason given
-- in events_since.lua): the balance and the latest entries, of one moment.
-- KEYS: 1 balances, 2 the user's recent entries
-- ARGV: 1 user id, 2 how many entries
-- Reply: {balance or nil, entries (newest first)}
return {redis.call('HGET', KEYS[1], ARGV[1]), redis.call('LRANGE', KEYS[2], 0, ARGV[2] - 1)}
