-- Gives the write lock up if the given holder still holds it. ARGV: holder.
if redis.call('GET', P .. 'write_lock') == ARGV[1] then
  redis.call('DEL', P .. 'write_lock')
end
return 1
