-- Deletes a JSON record of a table kept in insertion order. ARGV: table, id. Returns 1 if it
-- existed.
local deleted = redis.call('HDEL', P .. ARGV[1], ARGV[2])
redis.call('ZREM', P .. ARGV[1] .. '_order', ARGV[2])
return deleted
