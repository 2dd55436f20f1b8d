-- graylib RedisStore: give back one reservation, once.
-- The caller read the record's counter keys first (so that every key is declared, as Redis Cluster
-- requires) and passes them here; if the record changed meanwhile, nothing is done and {2} asks for a retry.
--
-- KEYS[1] reservation record   KEYS[2] statistics   KEYS[3] epoch marker (in the rule's slot)
-- KEYS[4] ledger (stream)      KEYS[5..] the counters the record lists
-- ARGV[1] the record's 'keys' field as read by the caller   ARGV[2] '1' shadow / '0' real
-- ARGV[3] the epoch the caller saw   ARGV[4] payment id   ARGV[5] now (seconds), for the ledger entry
--
-- Replies: {1, amount} released, {0} no such record, {2} record changed since it was read,
--          {3, epoch found ('' = none)} the store lost its data: nothing changed.

-- Integers stay in Redis (HINCRBY is exact to 2^63); Lua numbers are doubles, exact only to 2^53.
-- by: a positive integer, as text.
local function take(key, field, by)
  if redis.call('HINCRBY', key, field, '-' .. by) < 0 then
    redis.call('HSET', key, field, '0')
  end
end

local epoch = redis.call('GET', KEYS[3])
if epoch ~= ARGV[3] then
  return {3, epoch or ''}
end

local record = redis.call('HMGET', KEYS[1], 'keys', 'amount', 'seq')
if not record[1] then
  return {0}
end
if record[1] ~= ARGV[1] then
  return {2}
end

local amount = record[2]
local some = amount ~= '0'
for i = 5, #KEYS do
  -- A counter whose window has expired is gone: nothing to give back to it.
  if redis.call('EXISTS', KEYS[i]) == 1 then
    take(KEYS[i], 'count', '1')
    if some then
      take(KEYS[i], 'amount', amount)
    end
  end
end
redis.call('DEL', KEYS[1])

local column = 'granted_'
if ARGV[2] == '1' then
  column = 'shadow_'
end
if redis.call('EXISTS', KEYS[2]) == 1 then
  take(KEYS[2], column .. 'count', '1')
  if some then
    take(KEYS[2], column .. 'amount', amount)
  end
end
if ARGV[2] == '0' then
  -- The release's ledger entry repeats its grant's (found by the seq the record kept; blank if trimmed).
  local grant = {}
  if record[3] and record[3] ~= '0' then
    local found = redis.call('XRANGE', KEYS[4], record[3] .. '-0', record[3] .. '-0')
    if found[1] then
      for j = 1, #found[1][2], 2 do
        grant[found[1][2][j]] = found[1][2][j + 1]
      end
    end
  end
  local seq = redis.call('HINCRBY', KEYS[2], 'ledger_seq', 1)
  redis.call('XADD', KEYS[4], seq .. '-0', 'at', ARGV[5], 'kind', 'release', 'payment', ARGV[4],
    'account', grant['account'] or '', 'amount', grant['amount'] or '0', 'discount', amount,
    'version', grant['version'] or '', 'digest', grant['digest'] or '', 'cluster', grant['cluster'] or '',
    'node', grant['node'] or '')
end
return {1, record[2]}
