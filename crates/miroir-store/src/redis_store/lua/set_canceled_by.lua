-- Records a task's canceler if the task exists. ARGV: uid, canceler.
local uid = ARGV[1]
local key = P .. 'task:' .. uid
if redis.call('EXISTS', key) == 0 then
  return 0
end
local old = redis.call('HGET', key, 'canceled_by')
if old then redis.call('ZREM', P .. 'tasks:canceled_by:' .. old, uid) end
redis.call('HSET', key, 'canceled_by', ARGV[2])
redis.call('ZADD', P .. 'tasks:canceled_by:' .. ARGV[2], uid, uid)
return 1
