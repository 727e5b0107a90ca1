-- One plain write command (ARGV: the command and its arguments), run as a script so that it
-- is fenced and bumps its counter like every other write.
return redis.call(unpack(ARGV))
