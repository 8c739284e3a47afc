-- Create an org's period counters from the ledger without overwriting live ones.
--
-- KEYS[1] period counters   ARGV[1] expiry, epoch seconds   ARGV[2..] (category, used) pairs
-- Every field is written with HSETNX in one script, so admit never sees a half-seeded period
-- (it would count a missing field as 0) and two racing seeds cannot lose an increment.
-- Reply: the number of fields written.

local written = 0
for i = 2, #ARGV, 2 do
  written = written + redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('EXPIREAT', KEYS[1], ARGV[1])
return written
