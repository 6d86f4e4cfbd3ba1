-- Lock a room's charity terms before a payment is earmarked under them (the order's script
-- lives on the room's slot, so it cannot lock them itself): after this they cannot change.
-- KEYS: 1 the room's terms hash
-- ARGV: 1 the source about to be earmarked ('orders')
-- Reply: {'ok', terms JSON} when the terms cover the source (now locked) | {'none'}
local raw = redis.call('HGET', KEYS[1], 'json')
if not raw then
  return {'none'}
end
local terms = cjson.decode(raw)
for _, source in ipairs(terms['sources']) do
  if source == ARGV[1] then
    redis.call('HSET', KEYS[1], 'locked', 1)
    return {'ok', raw}
  end
end
return {'none'}
