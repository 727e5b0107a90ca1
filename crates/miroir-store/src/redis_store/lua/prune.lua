-- Forgets the settled entries (every call finished on its node) that are not held and whose
-- task is finished or deleted. Returns how many were pruned.
local pruned = 0
for _, seq in ipairs(redis.call('ZRANGE', P .. 'journal_settled', 0, -1)) do
  local fields = redis.call('HMGET', P .. 'journal:' .. seq, 'held', 'open', 'task_uid')
  if fields[3] and fields[1] == '0' and fields[2] == '0' then
    local status = redis.call('HGET', P .. 'task:' .. fields[3], 'status')
    if (not status) or not unfinished_status(status) then
      drop_entry(seq)
      pruned = pruned + 1
    end
  elseif not fields[3] then
    redis.call('ZREM', P .. 'journal_settled', seq)
  end
end
return pruned
