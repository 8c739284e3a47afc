-- Admit or refuse one ingest request, atomically, for every category it carries.
--
-- KEYS[1] period counters (hash: category -> units used)   KEYS[2] sealed-hour watermark
-- KEYS[3] pending outcome hours (zset)                     KEYS[4] outcome hash of this hour
-- KEYS[3 + 2i], KEYS[4 + 2i]: project and key token buckets of policy category i (1-based)
--
-- ARGV[1] now, epoch seconds (the request's time)   ARGV[2] period end, epoch seconds
-- ARGV[3] hour member 'YYYYMMDDHH'                  ARGV[4] hour start, epoch seconds
-- ARGV[5] outcome key TTL, seconds                  ARGV[6] outcome field prefix 'project|key|'
-- ARGV[6 + i]: policy category i as one space-separated string (fewer arguments to encode):
--   'name units rate burst key_rate key_burst limit reason', units '0' when the request carries
--   none (evaluated read-only), key_rate and key_burst '-' without a per-key override, limit '-'
--   when unlimited
--
-- Token buckets are hashes {tokens, ts}, refilled lazily: tokens grow by rate per second since
-- ts, capped at burst; a missing bucket is full. Time never runs backwards for a bucket (ts only
-- grows), so a gateway with a late clock gets no refill until it catches up instead of double
-- refill. A request larger than the burst is admitted from a full bucket and leaves it in debt
-- (negative tokens), so it is not refused forever and the long-run rate still holds.
--
-- Counts are Lua numbers (doubles): exact up to 2^53, which the caller enforces. Counters are
-- incremented with the caller's decimal strings (HINCRBY), never with formatted Lua numbers.
--
-- Reply, one space-separated string (cheaper to parse than an array):
--   'status hour_added late n_refusals [category scope reason retry_after]...
--    [category project_tokens key_tokens used]...' with one state per policy category after the
--   decision, key_tokens '-' without an override. status is 'accepted', 'refused' or
--   'needs_seed' (then the reply is just that, and nothing changed: seed the period, retry).

if redis.call('EXISTS', KEYS[1]) == 0 then
  return 'needs_seed'
end

local now = tonumber(ARGV[1])
local period_end = tonumber(ARGV[2])
local hour_member = ARGV[3]
local hour_score = tonumber(ARGV[4])
local outcome_ttl = tonumber(ARGV[5])
local field_prefix = ARGV[6]
local n = #ARGV - 6
local MAX_BUCKET_TTL_MS = 30 * 24 * 3600 * 1000

local function fmt(x)
  return string.format('%.17g', x)
end

local function load_bucket(key, rate, burst)
  local state = redis.call('HMGET', key, 'tokens', 'ts')
  local tokens, ts = tonumber(state[1]), tonumber(state[2])
  if tokens == nil or ts == nil then
    return burst, now
  end
  local elapsed = now - ts
  if elapsed < 0 then
    elapsed = 0
  end
  return math.min(burst, tokens + elapsed * rate), math.max(ts, now)
end

local function store_bucket(key, tokens, ts, rate, burst)
  redis.call('HSET', key, 'tokens', fmt(tokens), 'ts', fmt(ts))
  local ttl_ms = math.ceil((burst - tokens) / rate * 1000) + 1000
  redis.call('PEXPIRE', key, math.min(ttl_ms, MAX_BUCKET_TTL_MS))
end

local cats = {}
local names = {}
for i = 1, n do
  local name, units, rate, burst, key_rate, key_burst, limit, reason = string.match(
    ARGV[6 + i], '^(%S+) (%S+) (%S+) (%S+) (%S+) (%S+) (%S+) (%S+)$')
  local c = {
    name = name,
    units_arg = units,
    units = tonumber(units),
    rate = tonumber(rate),
    burst = tonumber(burst),
    key_rate = tonumber(key_rate),
    key_burst = tonumber(key_burst),
    limit = tonumber(limit),
    reason = reason,
    bucket = KEYS[3 + 2 * i],
    key_bucket = KEYS[4 + 2 * i],
  }
  cats[i] = c
  names[i] = name
end

local used = redis.call('HMGET', KEYS[1], unpack(names))

-- Phase 1: evaluate every limit, change nothing.
local refusals = {}
local own_reason = {}
local worst_reason, worst_retry = nil, 0

local function refuse(c, scope, reason, retry)
  if retry < 1 then
    retry = 1
  end
  refusals[#refusals + 1] = {c.name, scope, reason, retry}
  if own_reason[c.name] == nil or retry > own_reason[c.name].retry then
    own_reason[c.name] = {reason = reason, retry = retry}
  end
  if worst_reason == nil or retry > worst_retry then
    worst_reason, worst_retry = reason, retry
  end
end

for i = 1, n do
  local c = cats[i]
  c.used = tonumber(used[i]) or 0
  c.tokens, c.ts = load_bucket(c.bucket, c.rate, c.burst)
  if c.key_rate ~= nil then
    c.key_tokens, c.key_ts = load_bucket(c.key_bucket, c.key_rate, c.key_burst)
  end
  if c.units > 0 then
    local need = math.min(c.units, c.burst)
    if c.tokens < need then
      refuse(c, 'project', 'rate_limited', math.ceil((need - c.tokens) / c.rate))
    end
    if c.key_rate ~= nil then
      local key_need = math.min(c.units, c.key_burst)
      if c.key_tokens < key_need then
        refuse(c, 'key', 'rate_limited', math.ceil((key_need - c.key_tokens) / c.key_rate))
      end
    end
    if c.limit ~= nil and c.used + c.units > c.limit then
      refuse(c, 'org', c.reason, math.ceil(period_end - now))
    end
  end
end

-- Phase 2: apply. A refused request only counts its outcomes: each category under its own
-- refusal reason, a category that passed under the request's (longest) refusal reason.
local accepted = #refusals == 0
for i = 1, n do
  local c = cats[i]
  if c.units > 0 and accepted then
    c.tokens = c.tokens - c.units
    store_bucket(c.bucket, c.tokens, c.ts, c.rate, c.burst)
    if c.key_rate ~= nil then
      c.key_tokens = c.key_tokens - c.units
      store_bucket(c.key_bucket, c.key_tokens, c.key_ts, c.key_rate, c.key_burst)
    end
    c.used = redis.call('HINCRBY', KEYS[1], c.name, c.units_arg)
  end
end

local hour_added, late = 0, 1
if outcome_hour_open(KEYS[2], hour_score) == 1 then
  late = 0
  for i = 1, n do
    local c = cats[i]
    if c.units > 0 then
      local outcome = 'accepted'
      if not accepted then
        outcome = (own_reason[c.name] and own_reason[c.name].reason) or worst_reason
      end
      redis.call('HINCRBY', KEYS[4], field_prefix .. c.name .. '|' .. outcome, c.units_arg)
    end
  end
  hour_added = touch_outcome_hour(KEYS[3], KEYS[4], hour_member, hour_score, outcome_ttl)
end

local reply = {accepted and 'accepted' or 'refused', hour_added, late, #refusals}
for _, r in ipairs(refusals) do
  reply[#reply + 1] = string.format('%s %s %s %d', r[1], r[2], r[3], r[4])
end
for i = 1, n do
  local c = cats[i]
  local key_tokens = c.key_tokens and fmt(c.key_tokens) or '-'
  reply[#reply + 1] = string.format('%s %s %s %s', c.name, fmt(c.tokens), key_tokens, fmt(c.used))
end
return table.concat(reply, ' ')
