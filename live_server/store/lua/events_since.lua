-- A room's events from a seq on, with its current seq and epoch, in one atomic step (read only):
-- a recovering viewer and a process refilling after pub/sub was down compare the three, so they
-- must be of one moment. A script rather than MULTI: on a cluster redis-py queues a
-- transaction's commands through a thread, which blocks the event loop.
-- KEYS: 1 seq, 2 events (stream), 3 meta
-- ARGV: 1 first stream id wanted ('<seq>-0')
-- Reply: {seq or nil, entries ({id, {field, value, ...}} each, oldest first), epoch or nil}
return {redis.call('GET', KEYS[1]), redis.call('XRANGE', KEYS[2], ARGV[1], '+'),
        redis.call('HGET', KEYS[3], 'epoch')}
