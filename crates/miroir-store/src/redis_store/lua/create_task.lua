-- Creates a task under the next uid and, optionally, its journal entry, atomically; a task
-- created finished while a webhook exists joins the webhook outbox.
-- ARGV: n, then n field/value pairs of the task's hash; status, kind, index uid ('' none),
-- canceler ('' none); m, then m node task references (JSON); then '0' (no entry) or '1'
-- followed by: held ('0'/'1'), the entry's index uid ('' none), created_at, calls (JSON),
-- payload length ('' none), the uploaded payload's key ('' none), t, then t pairs of
-- (node, call position).
-- Returns {task uid, sequence number or 0}.
local at = 1
local n = tonumber(ARGV[at]); at = at + 1
local uid = redis.call('INCR', P .. 'next_task_uid') - 1
local key = P .. 'task:' .. uid
for i = 0, n - 1 do
  redis.call('HSET', key, ARGV[at + 2 * i], ARGV[at + 2 * i + 1])
end
at = at + 2 * n
local status, kind, index_uid, canceled_by = ARGV[at], ARGV[at + 1], ARGV[at + 2], ARGV[at + 3]
at = at + 4
redis.call('ZADD', P .. 'tasks', uid, uid)
redis.call('ZADD', P .. 'tasks:status:' .. status, uid, uid)
if not unfinished_status(status) and redis.call('HLEN', P .. 'webhooks') > 0 then
  redis.call('ZADD', P .. 'webhook_outbox', uid, uid)
end
redis.call('ZADD', P .. 'tasks:type:' .. kind, uid, uid)
if index_uid ~= '' then
  redis.call('ZADD', P .. 'tasks:index:' .. index_uid, uid, uid)
  redis.call('SADD', P .. 'task_indexes', index_uid)
end
if canceled_by ~= '' then
  redis.call('ZADD', P .. 'tasks:canceled_by:' .. canceled_by, uid, uid)
end
local m = tonumber(ARGV[at]); at = at + 1
for i = 0, m - 1 do
  redis.call('RPUSH', P .. 'task_node_tasks:' .. uid, ARGV[at + i])
end
at = at + m
if ARGV[at] ~= '1' then
  return {uid, 0}
end
at = at + 1
local held, entry_index, created_at, calls = ARGV[at], ARGV[at + 1], ARGV[at + 2], ARGV[at + 3]
local payload_len, upload = ARGV[at + 4], ARGV[at + 5]
local t = tonumber(ARGV[at + 6])
at = at + 7
local seq = redis.call('INCR', P .. 'next_seq')
local entry = P .. 'journal:' .. seq
redis.call('HSET', entry, 'task_uid', uid, 'created_at', created_at, 'calls', calls,
  'held', held, 'open', t)
if entry_index ~= '' then redis.call('HSET', entry, 'index_uid', entry_index) end
if payload_len ~= '' then
  redis.call('HSET', entry, 'payload_len', payload_len)
  redis.call('INCRBY', P .. 'journal_bytes', payload_len)
end
if upload ~= '' then
  redis.call('RENAME', upload, P .. 'payload:' .. seq)
  -- The upload expires if its writer dies; the stored payload must not.
  redis.call('PERSIST', P .. 'payload:' .. seq)
end
redis.call('ZADD', P .. 'journal', seq, seq)
redis.call('SET', P .. 'journal_of_task:' .. uid, seq)
if held == '1' then redis.call('SADD', P .. 'journal_held', seq) end
if t == 0 then redis.call('ZADD', P .. 'journal_settled', seq, seq) end
for i = 0, t - 1 do
  local node, call = ARGV[at + 2 * i], ARGV[at + 2 * i + 1]
  redis.call('SADD', P .. 'entry_targets:' .. seq, call .. ':' .. node)
  -- A node's calls in order: exact while seq < 2^37 (a double's 53 bits), passed to Redis as
  -- a number, which it formats exactly.
  redis.call('ZADD', P .. 'pending:' .. node, seq * 65536 + tonumber(call), seq .. ':' .. call)
end
return {uid, seq}
