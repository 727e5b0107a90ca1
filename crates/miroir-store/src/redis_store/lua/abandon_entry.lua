-- Forgets a held entry and its task. ARGV: seq.
local seq = ARGV[1]
local entry = P .. 'journal:' .. seq
local uid = redis.call('HGET', entry, 'task_uid')
if not uid then
  return 0
end
delete_task(uid)
for _, member in ipairs(redis.call('SMEMBERS', P .. 'entry_targets:' .. seq)) do
  local call, node = string.match(member, '^(%d+):(.*)$')
  local position = seq .. ':' .. call
  redis.call('ZREM', P .. 'pending:' .. node, position)
  redis.call('ZREM', P .. 'unfinished:' .. node, position)
  redis.call('ZREM', P .. 'unfinished', position .. ':' .. node)
end
drop_entry(seq)
return 1
