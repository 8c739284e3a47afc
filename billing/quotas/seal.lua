-- Delete outcome hours the flush has persisted, and seal them against late writes.
--
-- KEYS[1] pending outcome hours   KEYS[2] sealed-hour watermark   KEYS[2 + i] hash of hour i
-- ARGV[1] watermark TTL, seconds   ARGV[2i], ARGV[2i + 1]: member and start (epoch) of hour i
-- Reply: the number of hours still pending for the org.

local sealed = tonumber(redis.call('GET', KEYS[2])) or 0
for i = 1, #KEYS - 2 do
  redis.call('DEL', KEYS[2 + i])
  redis.call('ZREM', KEYS[1], ARGV[2 * i])
  sealed = math.max(sealed, tonumber(ARGV[2 * i + 1]))
end
redis.call('SET', KEYS[2], string.format('%d', sealed), 'EX', ARGV[1])
return redis.call('ZCARD', KEYS[1])
