-- Records every call for a node up to a score that is not delivered or not finished as
-- succeeded. ARGV: node, the highest score, now. Returns how many calls it concerned.
local node, bound, now = ARGV[1], ARGV[2], ARGV[3]
local count = 0
local pending = P .. 'pending:' .. node
for _, position in ipairs(redis.call('ZRANGEBYSCORE', pending, '-inf', bound)) do
  local seq, call = string.match(position, '^(%d+):(%d+)$')
  if redis.call('EXISTS', P .. 'journal:' .. seq) == 1 then
    local member = call .. ':' .. node
    redis.call('HSET', P .. 'delivery:' .. seq .. ':' .. member, 'status', 'succeeded',
      'started_at', now, 'finished_at', now)
    redis.call('SADD', P .. 'entry_deliveries:' .. seq, member)
    add_open(seq, -1)
    count = count + 1
  end
end
redis.call('ZREMRANGEBYSCORE', pending, '-inf', bound)
local unfinished = P .. 'unfinished:' .. node
for _, position in ipairs(redis.call('ZRANGEBYSCORE', unfinished, '-inf', bound)) do
  local seq, call = string.match(position, '^(%d+):(%d+)$')
  redis.call('HSET', P .. 'delivery:' .. seq .. ':' .. call .. ':' .. node,
    'status', 'succeeded', 'finished_at', now)
  redis.call('ZREM', P .. 'unfinished', position .. ':' .. node)
  add_open(seq, -1)
  count = count + 1
end
redis.call('ZREMRANGEBYSCORE', unfinished, '-inf', bound)
return count
