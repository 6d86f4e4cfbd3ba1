-- The room's shelf as a snapshot shows it, in one atomic step (read only; a script rather than
-- MULTI for the reason given in events_since.lua).
-- KEYS: 1 shelf (list), 2 products, 3 pinned, 4 sales, 5 stock left, 6 the room's allotment
-- Reply: {shelf ids, products (HGETALL pairs), pinned id or nil, sales (pairs), left (pairs),
--         allotment (pairs)}
return {redis.call('LRANGE', KEYS[1], 0, -1), redis.call('HGETALL', KEYS[2]),
        redis.call('GET', KEYS[3]), redis.call('HGETALL', KEYS[4]),
        redis.call('HGETALL', KEYS[5]), redis.call('HGETALL', KEYS[6])}
