-- graylib RedisStore: one page of a rule's ledger, as one JSON text.
-- Reading the stream with XRANGE would send every field of every entry as its own reply element, which the
-- client parses one by one; one JSON text per page is parsed in one call.
--
-- KEYS[1] ledger (stream)   ARGV[1] the first id to return ('<seq>-0')   ARGV[2] at most this many
-- Reply: JSON [[id, [field, value, ...]], ...] ('[]' when none)

local entries = redis.call('XRANGE', KEYS[1], ARGV[1], '+', 'COUNT', ARGV[2])
if #entries == 0 then
  return '[]'
end
return cjson.encode(entries)
