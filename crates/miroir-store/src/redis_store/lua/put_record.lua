-- Creates or replaces a JSON record of a table kept in insertion order (API keys,
-- webhooks); a replaced record keeps its place. ARGV: table, id, record.
local records = P .. ARGV[1]
local order = P .. ARGV[1] .. '_order'
if redis.call('HEXISTS', records, ARGV[2]) == 0 then
  local position = redis.call('INCR', P .. ARGV[1] .. '_next')
  redis.call('ZADD', order, position, ARGV[2])
end
redis.call('HSET', records, ARGV[2], ARGV[3])
return 1
