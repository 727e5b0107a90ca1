-- Gives the lease up if it is still the given one. ARGV: the lease (holder/token).
if redis.call('GET', P .. 'lease') == ARGV[1] then
  redis.call('DEL', P .. 'lease')
end
return 1
