-- Takes the lease if nobody holds it. ARGV: holder, ttl in ms. Returns the new fencing token,
-- or false when the lease is held.
if redis.call('EXISTS', P .. 'lease') == 1 then
  return false
end
local token = redis.call('INCR', P .. 'lease_token')
redis.call('SET', P .. 'lease', ARGV[1] .. '/' .. token, 'PX', ARGV[2])
return token
