-- Shared by every script (prepended to each). Keys are built here from the `miroir:` prefix,
-- so the store needs one Redis (or a primary with replicas), not Redis Cluster.
local P = 'miroir:'

-- Every script is called with two leading arguments, taken off ARGV here: the lease the write
-- is fenced with ('' for none) and the change counter it bumps ('' for none). A fenced write
-- lands only while its lease is the one in force.
local fence, bump = ARGV[1], ARGV[2]
if fence ~= '' and redis.call('GET', P .. 'lease') ~= fence then
  return redis.error_reply('MIROIR_FENCED the lease this write was made under is no longer held')
end
if bump ~= '' then
  redis.call('HINCRBY', P .. 'versions', bump, 1)
end
local rest = {}
for i = 3, #ARGV do
  rest[i - 2] = ARGV[i]
end
local ARGV = rest

local function unfinished_status(status)
  return status == 'enqueued' or status == 'processing'
end

-- Removes a task and its secondary indexes. Returns 1 if it existed.
local function delete_task(uid)
  local key = P .. 'task:' .. uid
  local fields = redis.call('HMGET', key, 'status', 'kind', 'index_uid', 'canceled_by')
  if redis.call('EXISTS', key) == 0 then
    return 0
  end
  redis.call('ZREM', P .. 'tasks', uid)
  if fields[1] then redis.call('ZREM', P .. 'tasks:status:' .. fields[1], uid) end
  if fields[2] then redis.call('ZREM', P .. 'tasks:type:' .. fields[2], uid) end
  if fields[3] then
    local by_index = P .. 'tasks:index:' .. fields[3]
    redis.call('ZREM', by_index, uid)
    if redis.call('ZCARD', by_index) == 0 then
      redis.call('SREM', P .. 'task_indexes', fields[3])
    end
  end
  if fields[4] then redis.call('ZREM', P .. 'tasks:canceled_by:' .. fields[4], uid) end
  redis.call('ZREM', P .. 'webhook_outbox', uid)
  redis.call('DEL', key, P .. 'task_node_tasks:' .. uid)
  return 1
end

-- Removes a journal entry with its payload, targets and deliveries.
local function drop_entry(seq)
  local entry = P .. 'journal:' .. seq
  local fields = redis.call('HMGET', entry, 'task_uid', 'payload_len')
  if fields[2] then
    redis.call('DECRBY', P .. 'journal_bytes', fields[2])
  end
  if fields[1] then
    redis.call('DEL', P .. 'journal_of_task:' .. fields[1])
  end
  local deliveries = P .. 'entry_deliveries:' .. seq
  for _, member in ipairs(redis.call('SMEMBERS', deliveries)) do
    redis.call('DEL', P .. 'delivery:' .. seq .. ':' .. member)
  end
  redis.call('DEL', entry, P .. 'payload:' .. seq, P .. 'entry_targets:' .. seq, deliveries)
  redis.call('ZREM', P .. 'journal', seq)
  redis.call('ZREM', P .. 'journal_settled', seq)
  redis.call('SREM', P .. 'journal_held', seq)
end

-- Adds `delta` to the count of an entry's calls not finished on their node, keeping the set
-- of settled entries (count 0) that pruning looks at.
local function add_open(seq, delta)
  local entry = P .. 'journal:' .. seq
  if redis.call('EXISTS', entry) == 0 then
    return
  end
  local open = redis.call('HINCRBY', entry, 'open', delta)
  if open == 0 then
    redis.call('ZADD', P .. 'journal_settled', seq, seq)
  else
    redis.call('ZREM', P .. 'journal_settled', seq)
  end
end
