-- One product as a buyer's request sees it, in one atomic step (read only; a script rather than
-- MULTI for the reason given in events_since.lua).
-- KEYS: 1 shelf (list), 2 products, 3 sales, 4 stock left, 5 pinned, 6 bought, 7 allotment
-- ARGV: 1 product id, 2 the bought field ('<product id>:<user>')
-- Reply: {position on the shelf or nil, card or nil, sale or nil, left or nil, pinned id or nil,
--         units bought or nil, allotment (HGETALL pairs)}
local pid = ARGV[1]
return {redis.call('LPOS', KEYS[1], pid), redis.call('HGET', KEYS[2], pid),
        redis.call('HGET', KEYS[3], pid), redis.call('HGET', KEYS[4], pid),
        redis.call('GET', KEYS[5]), redis.call('HGET', KEYS[6], ARGV[2]),
        redis.call('HGETALL', KEYS[7])}
