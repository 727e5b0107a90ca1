-- Deletes tasks. ARGV: their uids. Returns how many existed.
local deleted = 0
for _, uid in ipairs(ARGV) do
  deleted = deleted + delete_task(uid)
end
return deleted
