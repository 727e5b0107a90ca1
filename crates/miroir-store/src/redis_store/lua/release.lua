-- Releases held entries. ARGV: their sequence numbers, or none for every held entry.
-- Returns how many were held.
local seqs = ARGV
if #seqs == 0 then
  seqs = redis.call('SMEMBERS', P .. 'journal_held')
end
local released = 0
for _, seq in ipairs(seqs) do
  if redis.call('SREM', P .. 'journal_held', seq) == 1 then
    redis.call('HSET', P .. 'journal:' .. seq, 'held', '0')
    released = released + 1
  end
end
return released
