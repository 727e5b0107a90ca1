-- Releases held entries. ARGV: 'seq' and a sequence number, or 'before' and a time (ns):
-- every held entry journaled before it. Returns how many were held.
local seqs = {ARGV[2]}
if ARGV[1] == 'before' then
  seqs = {}
  for _, seq in ipairs(redis.call('SMEMBERS', P .. 'journal_held')) do
    local created_at = redis.call('HGET', P .. 'journal:' .. seq, 'created_at')
    if created_at and tonumber(created_at) < tonumber(ARGV[2]) then
      seqs[#seqs + 1] = seq
    end
  end
end
local released = 0
for _, seq in ipairs(seqs) do
  if redis.call('SREM', P .. 'journal_held', seq) == 1 then
    redis.call('HSET', P .. 'journal:' .. seq, 'held', '0')
    released = released + 1
  end
end
return released
