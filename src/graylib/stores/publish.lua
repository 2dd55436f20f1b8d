-- graylib RedisStore: publish one revision by compare-and-set of the current number.
-- Every key carries the hash tag {prefix}, so the script stays in one slot on Redis Cluster.
--
-- KEYS[1] current number   KEYS[2] version -> "number digest" hash   KEYS[3] the new revision's key
-- KEYS[4] epoch marker (in the {prefix} slot)
-- ARGV[1] the number the publish was checked against   ARGV[2] version   ARGV[3] digest
-- ARGV[4] the revision as JSON (numbered ARGV[1] + 1)   ARGV[5] the epoch the caller saw
--
-- Replies: {0, number} published; {1, current} another revision was published meanwhile;
--          {2, number} the version already names another text (in revision number);
--          {3, epoch found ('' = none)} the store lost its data. Nothing changes unless {0}.

local epoch = redis.call('GET', KEYS[4])
if epoch ~= ARGV[5] then
  return {3, epoch or ''}
end
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current ~= tonumber(ARGV[1]) then
  return {1, current}
end
local named = redis.call('HGET', KEYS[2], ARGV[2])
if named then
  local space = string.find(named, ' ', 1, true)
  if string.sub(named, space + 1) ~= ARGV[3] then
    return {2, tonumber(string.sub(named, 1, space - 1))}
  end
else
  redis.call('HSET', KEYS[2], ARGV[2], (current + 1) .. ' ' .. ARGV[3])
end
redis.call('SET', KEYS[3], ARGV[4])
redis.call('SET', KEYS[1], current + 1)
return {0, current + 1}
