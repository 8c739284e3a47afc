-- Undo an accepted admission (or part of one): give back the period units and bucket tokens,
-- and move its outcome counts from `accepted` to the refile outcome (`store_unavailable` when
-- the store failed), or just take them off `accepted` when that is empty (a duplicate the store
-- already held: it was billed when first stored).
--
-- KEYS[1] period counters   KEYS[2] sealed-hour watermark   KEYS[3] pending outcome hours
-- KEYS[4] outcome hash of the admission's hour
-- KEYS[3 + 2i], KEYS[4 + 2i]: project and key token buckets of category i (1-based)
-- ARGV[1] hour member   ARGV[2] hour start, epoch seconds   ARGV[3] outcome key TTL, seconds
-- ARGV[4] outcome field prefix 'project|key|'   ARGV[5] refile outcome, or ''
-- ARGV[6] n, then (name, units) per category
--
-- Counters that no longer exist are left alone: re-creating period counters here would hide
-- their loss from admit (which then asks for a seed from the ledger), and a missing bucket is
-- already full. Tokens may exceed the burst for a while; the next refill caps them.
-- Reply: {hour_added, late}.

local period_exists = redis.call('EXISTS', KEYS[1]) == 1
local refile = ARGV[5]
local n = tonumber(ARGV[6])
for i = 1, n do
  local name, units = ARGV[5 + 2 * i], ARGV[6 + 2 * i]
  if period_exists then
    if redis.call('HINCRBY', KEYS[1], name, '-' .. units) < 0 then
      redis.call('HSET', KEYS[1], name, 0)
    end
  end
  for _, bucket in ipairs({KEYS[3 + 2 * i], KEYS[4 + 2 * i]}) do
    if redis.call('EXISTS', bucket) == 1 then
      redis.call('HINCRBYFLOAT', bucket, 'tokens', units)
    end
  end
end

local hour_score = tonumber(ARGV[2])
if outcome_hour_open(KEYS[2], hour_score) == 0 then
  return {0, 1}
end
for i = 1, n do
  local name, units = ARGV[5 + 2 * i], ARGV[6 + 2 * i]
  local prefix = ARGV[4] .. name .. '|'
  redis.call('HINCRBY', KEYS[4], prefix .. 'accepted', '-' .. units)
  if refile ~= '' then
    redis.call('HINCRBY', KEYS[4], prefix .. refile, units)
  end
end
return {touch_outcome_hour(KEYS[3], KEYS[4], ARGV[1], hour_score, tonumber(ARGV[3])), 0}
