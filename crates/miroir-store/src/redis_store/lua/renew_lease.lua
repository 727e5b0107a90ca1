-- Extends the lease if it is still the given one. ARGV: the lease (holder/token), ttl in ms.
-- Returns 1 if it was, 0 if it was lost.
if redis.call('GET', P .. 'lease') ~= ARGV[1] then
  return 0
end
redis.call('PEXPIRE', P .. 'lease', ARGV[2])
return 1
