-- Shared prelude of the scripts that write outcomes; prepended to each of them by redis.py.
--
-- Outcomes live in one hash per (org, UTC hour), field `project|key|category|outcome`, plus a
-- sorted set of the org's pending hours (score: epoch of the hour start) so the flush finds
-- them. Once the flush has persisted an hour with SET semantics and deleted it, the hour is
-- "sealed" (the org's watermark is the latest deleted hour): re-creating it would make the next
-- flush overwrite the persisted total with a partial one, so a write to a sealed hour is dropped
-- and reported instead. The flush only deletes hours that ended more than a grace period ago,
-- so only a caller whose clock is off by more than that grace can hit this.

-- Returns 1 when the hour may be written, 0 when it is sealed.
local function outcome_hour_open(sealed_key, hour_score)
  local sealed = tonumber(redis.call('GET', sealed_key))
  if sealed ~= nil and hour_score <= sealed then
    return 0
  end
  return 1
end

-- Registers the hour as pending; returns 1 when the hour was not pending before (the caller
-- then adds the org to the global index of orgs with pending outcomes). The hour's hash is
-- created by the same script that adds it here, so its safety-net TTL is set once, then.
-- A hash without a generation was just created: it gets one, the creation time in
-- microseconds, so that counts re-created after Redis lost them are persisted beside the
-- earlier ones instead of over them.
local function touch_outcome_hour(hours_key, hour_key, member, score, ttl)
  if redis.call('HEXISTS', hour_key, '~gen') == 0 then
    local t = redis.call('TIME')
    redis.call('HSET', hour_key, '~gen', t[1] .. string.format('%06d', tonumber(t[2])))
  end
  local added = redis.call('ZADD', hours_key, 'NX', score, member)
  if added == 1 then
    redis.call('EXPIRE', hours_key, ttl)
    redis.call('EXPIRE', hour_key, ttl)
  end
  return added
end
