-- graylib RedisStore: one claim, all or nothing.
-- Every key carries the rule's hash tag {prefix:rule_id}, so the script runs on Redis Cluster too.
--
-- KEYS[1] kill switch         (string: JSON {reason, at})
-- KEYS[2] reservation record  (hash: fp, payload, amount, keys, seq: its grant's ledger seq, 0 = shadow)
-- KEYS[3] statistics          (hash: granted_count, granted_amount, shadow_count, shadow_amount,
--                              ledger_seq: the last ledger seq given out)
-- KEYS[4] rate alarm          (hash: bucket start -> amount granted in that bucket)
-- KEYS[5] epoch marker        (string: the epoch written by initialise, in this rule's slot)
-- KEYS[6] ledger              (stream: one entry per grant and release, id '<seq>-0')
-- KEYS[7..] counters          (hash: count, amount), one key per counter and window
--
-- ARGV[1] '1' shadow / '0' real   ARGV[2] fingerprint      ARGV[3] payload
-- ARGV[4] amount                  ARGV[5] now (seconds)    ARGV[6] record ttl (ms)
-- ARGV[7] alarm amount ('' = none) ARGV[8] alarm key ttl (ms, 0 = none)  ARGV[9] alarm window (s)
-- ARGV[10] the epoch the caller saw
-- ARGV[11] start of the alarm bucket holding now   ARGV[12] start of the oldest alarm bucket to sum
-- ARGV[13] alarm buckets older than this are deleted
-- ARGV[14] when lifetime counters may go (ms since the epoch: the rule's end plus retention; '' = never)
-- ARGV[15] payment id  ARGV[16] account  ARGV[17] payment amount  ARGV[18] rule version  ARGV[19] digest
-- ARGV[20] cluster     ARGV[21] node      (what the grant's ledger entry records)
-- then for counter i: ARGV[21 + 3i - 2] max count ('' = none), ARGV[21 + 3i - 1] max amount ('' = none),
--                     ARGV[21 + 3i] key ttl (ms, 0 = lifetime)
--
-- Replies: {0} granted, {1, payload} replayed, {2} mismatch, {3, i} counter i is full,
--          {4, reason} rate alarm tripped (kill switch now set), {5} killed,
--          {6, epoch found ('' = none)} the store lost its data: nothing read, nothing changed.

-- A store that lost its data (restarted empty, flushed, failed over without it) would grant every budget
-- again and forget every kill switch: refuse until an operator re-initialises it.
local epoch = redis.call('GET', KEYS[5])
if epoch ~= ARGV[10] then
  return {6, epoch or ''}
end

local shadow = ARGV[1] == '1'
local amount = tonumber(ARGV[4])
local alarm = (not shadow) and ARGV[7] ~= ''

-- A payment already reserved gets its first answer, even once the rule is killed: its discount was granted
-- while the rule was live and is counted; only new payments are refused.
local record = redis.call('HMGET', KEYS[2], 'fp', 'payload')
if record[1] then
  if record[1] == ARGV[2] then
    return {1, record[2]}
  end
  return {2}
end

if not shadow and redis.call('EXISTS', KEYS[1]) == 1 then
  return {5}
end

local base = 21
local first = 6  -- KEYS[first + i] is counter i
local n = #KEYS - first
for i = 1, n do
  local max_count = ARGV[base + 3 * i - 2]
  local max_amount = ARGV[base + 3 * i - 1]
  local current = redis.call('HMGET', KEYS[first + i], 'count', 'amount')
  local count = tonumber(current[1]) or 0
  local used = tonumber(current[2]) or 0
  if current[1] and ARGV[base + 3 * i] == '0' then
    -- A lifetime counter lives until its rule has been over for a while; the latest end wins, full or not.
    if ARGV[14] ~= '' then
      redis.call('PEXPIREAT', KEYS[first + i], ARGV[14])
    else
      redis.call('PERSIST', KEYS[first + i])
    end
  end
  if (max_count ~= '' and count + 1 > tonumber(max_count))
      or (max_amount ~= '' and used + amount > tonumber(max_amount)) then
    return {3, i}
  end
end

-- The rate alarm sums every bucket of the trailing window (see alarm_buckets in _common.py); buckets
-- past it are kept a while for claims stamped a little in the past, then deleted.
if alarm then
  local oldest = tonumber(ARGV[12])
  local stale = tonumber(ARGV[13])
  local granted = 0
  local buckets = redis.call('HGETALL', KEYS[4])
  for j = 1, #buckets, 2 do
    local start = tonumber(buckets[j])
    if start >= oldest then
      granted = granted + tonumber(buckets[j + 1])
    elseif start < stale then
      redis.call('HDEL', KEYS[4], buckets[j])
    end
  end
  if granted + amount > tonumber(ARGV[7]) then
    local span = "over the rule's lifetime"
    if ARGV[9] ~= '0' then
      span = 'within ' .. ARGV[9] .. 's'
    end
    local reason = string.format('rate_alarm: granting %d would take %d past %s %s',
      amount, granted + amount, ARGV[7], span)
    redis.call('SET', KEYS[1], cjson.encode({reason = reason, at = ARGV[5]}))
    return {4, reason}
  end
end

local counted = {}
for i = 1, n do
  local key = KEYS[first + i]
  local ttl = tonumber(ARGV[base + 3 * i])
  if redis.call('HINCRBY', key, 'count', 1) == 1 then
    if ttl > 0 then
      redis.call('PEXPIRE', key, ttl)
    elseif ARGV[14] ~= '' then  -- a new lifetime counter (one that existed got its expiry above)
      redis.call('PEXPIREAT', key, ARGV[14])
    end
  end
  redis.call('HINCRBY', key, 'amount', ARGV[4])
  counted[i] = key
end

if alarm then
  redis.call('HINCRBY', KEYS[4], ARGV[11], ARGV[4])
  if ARGV[8] ~= '0' then
    redis.call('PEXPIRE', KEYS[4], ARGV[8])
  end
end

local seq = 0
if shadow then
  redis.call('HINCRBY', KEYS[3], 'shadow_count', 1)
  redis.call('HINCRBY', KEYS[3], 'shadow_amount', ARGV[4])
else
  redis.call('HINCRBY', KEYS[3], 'granted_count', 1)
  redis.call('HINCRBY', KEYS[3], 'granted_amount', ARGV[4])
  -- The grant's ledger entry; the record keeps its seq, so that the release's entry can repeat it.
  seq = redis.call('HINCRBY', KEYS[3], 'ledger_seq', 1)
  redis.call('XADD', KEYS[6], seq .. '-0', 'at', ARGV[5], 'kind', 'grant', 'payment', ARGV[15],
    'account', ARGV[16], 'amount', ARGV[17], 'discount', ARGV[4], 'version', ARGV[18],
    'digest', ARGV[19], 'cluster', ARGV[20], 'node', ARGV[21])
end

redis.call('HSET', KEYS[2], 'fp', ARGV[2], 'payload', ARGV[3], 'amount', ARGV[4],
  'keys', cjson.encode(counted), 'seq', seq)
redis.call('PEXPIRE', KEYS[2], ARGV[6])
return {0}
