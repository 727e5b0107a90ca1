-- Records what a node did with a call. ARGV: seq, call, node, node task ('' none), status,
-- error, details, started_at, finished_at ('' for none), the call's score, the node task
-- reference to add to the task (JSON).
local seq, call, node, node_task, status = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
if node_task ~= '' then
  local last = redis.call('HGET', P .. 'node_last_task', node)
  if (not last) or tonumber(last) < tonumber(node_task) then
    redis.call('HSET', P .. 'node_last_task', node, node_task)
  end
end
local entry = P .. 'journal:' .. seq
if redis.call('EXISTS', entry) == 0 then
  return 0
end
local member = call .. ':' .. node
local position = seq .. ':' .. call
local delivery = P .. 'delivery:' .. seq .. ':' .. member
local previous = redis.call('HMGET', delivery, 'status', 'node_task')
local was_open = (not previous[1]) or unfinished_status(previous[1])
local now_open = unfinished_status(status)
redis.call('DEL', delivery)
redis.call('HSET', delivery, 'status', status)
local names = {'node_task', 'error', 'details', 'started_at', 'finished_at'}
local values = {node_task, ARGV[6], ARGV[7], ARGV[8], ARGV[9]}
for i, name in ipairs(names) do
  if values[i] ~= '' then redis.call('HSET', delivery, name, values[i]) end
end
redis.call('SADD', P .. 'entry_deliveries:' .. seq, member)
redis.call('ZREM', P .. 'pending:' .. node, position)
if was_open and not now_open then add_open(seq, -1) end
if now_open and not was_open then add_open(seq, 1) end
if now_open then
  redis.call('ZADD', P .. 'unfinished:' .. node, ARGV[10], position)
  redis.call('ZADD', P .. 'unfinished', ARGV[10], position .. ':' .. node)
else
  redis.call('ZREM', P .. 'unfinished:' .. node, position)
  redis.call('ZREM', P .. 'unfinished', position .. ':' .. node)
end
if node_task ~= '' and previous[2] ~= node_task then
  local uid = redis.call('HGET', entry, 'task_uid')
  if uid and redis.call('EXISTS', P .. 'task:' .. uid) == 1 then
    redis.call('RPUSH', P .. 'task_node_tasks:' .. uid, ARGV[11])
  end
end
return 1
