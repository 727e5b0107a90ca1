-- Extends the write lock if the given holder still holds it. ARGV: holder, ttl in ms.
-- Returns 1 if it did, 0 if the holder lost it.
if redis.call('GET', P .. 'write_lock') ~= ARGV[1] then
  return 0
end
redis.call('PEXPIRE', P .. 'write_lock', ARGV[2])
return 1
