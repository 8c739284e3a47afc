-- Count units under an outcome decided outside admission (`invalid`, …).
--
-- KEYS[1] sealed-hour watermark   KEYS[2] pending outcome hours   KEYS[3] outcome hash of the hour
-- ARGV[1] hour member   ARGV[2] hour start, epoch seconds   ARGV[3] outcome key TTL, seconds
-- ARGV[4] field 'project|key|category|outcome'   ARGV[5] units
-- Reply: {hour_added, late}.

local hour_score = tonumber(ARGV[2])
if outcome_hour_open(KEYS[1], hour_score) == 0 then
  return {0, 1}
end
redis.call('HINCRBY', KEYS[3], ARGV[4], ARGV[5])
return {touch_outcome_hour(KEYS[2], KEYS[3], ARGV[1], hour_score, tonumber(ARGV[3])), 0}
