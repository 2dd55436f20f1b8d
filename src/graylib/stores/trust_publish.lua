-- graylib RedisStore: store one trust file by compare-and-set of the number in force.
-- Every key carries the hash tag {prefix}, so the script stays in one slot on Redis Cluster.
--
-- KEYS[1] the number in force   KEYS[2] the new trust file's key   KEYS[3] epoch marker (in the slot)
-- ARGV[1] the number the change was checked against   ARGV[2] the record as JSON (numbered ARGV[1] + 1)
-- ARGV[3] the epoch the caller saw
--
-- Replies: {0, number} stored; {1, current} another trust file was stored meanwhile;
--          {3, epoch found ('' = none)} the store lost its data. Nothing changes unless {0}.

local epoch = redis.call('GET', KEYS[3])
if epoch ~= ARGV[3] then
  return {3, epoch or ''}
end
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current ~= tonumber(ARGV[1]) then
  return {1, current}
end
if redis.call('SET', KEYS[2], ARGV[2], 'NX') == false then
  return {1, current + 1}
end
redis.call('SET', KEYS[1], current + 1)
return {0, current + 1}
