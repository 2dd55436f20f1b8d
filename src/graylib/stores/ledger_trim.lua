-- graylib RedisStore: trim one page of a rule's ledger, keeping the totals of what it removes.
-- Called page after page by RedisStore.trim_ledger, so that no single call holds Redis for long.
--
-- KEYS[1] ledger (stream)   KEYS[2] statistics (hash: trimmed_* totals are kept here)
-- ARGV[1] look at entries with ids after this one ('seq-0')   ARGV[2] how many to look at
-- ARGV[3] remove those whose 'at' is before this (seconds)
--
-- Reply: {removed, last id looked at ('' = none), number looked at}

local entries = redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+', 'COUNT', ARGV[2])
local before = tonumber(ARGV[3])
local removed = 0
for _, entry in ipairs(entries) do
  local fields = {}
  for j = 1, #entry[2], 2 do
    fields[entry[2][j]] = entry[2][j + 1]
  end
  if tonumber(fields['at']) < before then
    redis.call('XDEL', KEYS[1], entry[1])
    removed = removed + 1
    -- HINCRBY with the stored text: exact integers (Lua numbers are doubles)
    if fields['kind'] == 'grant' then
      redis.call('HINCRBY', KEYS[2], 'trimmed_grants', 1)
      redis.call('HINCRBY', KEYS[2], 'trimmed_granted', fields['discount'])
    else
      redis.call('HINCRBY', KEYS[2], 'trimmed_releases', 1)
      redis.call('HINCRBY', KEYS[2], 'trimmed_released', fields['discount'])
    end
  end
end
local last = ''
if #entries > 0 then
  last = entries[#entries][1]
end
return {removed, last, #entries}
