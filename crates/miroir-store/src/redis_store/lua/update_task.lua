-- Overwrites a task's progress if the task exists; a task finishing here while a webhook
-- exists joins the webhook outbox.
-- ARGV: uid, status, then details, error, started_at, finished_at ('' for none).
local uid = ARGV[1]
local key = P .. 'task:' .. uid
if redis.call('EXISTS', key) == 0 then
  return 0
end
local old = redis.call('HGET', key, 'status')
if old and unfinished_status(old) and not unfinished_status(ARGV[2])
    and redis.call('HLEN', P .. 'webhooks') > 0 then
  redis.call('ZADD', P .. 'webhook_outbox', uid, uid)
end
if old then redis.call('ZREM', P .. 'tasks:status:' .. old, uid) end
redis.call('ZADD', P .. 'tasks:status:' .. ARGV[2], uid, uid)
redis.call('HSET', key, 'status', ARGV[2])
local names = {'details', 'error', 'started_at', 'finished_at'}
for i, name in ipairs(names) do
  local value = ARGV[2 + i]
  if value == '' then
    redis.call('HDEL', key, name)
  else
    redis.call('HSET', key, name, value)
  end
end
return 1
