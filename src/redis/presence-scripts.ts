/**
 * Presence lives in two keys per topic, both with the hash tag `{t:<topic>}` so that they sit in
 * one Redis Cluster slot (a script may touch only keys of one slot):
 *
 * - KEYS[1], a hash: field `<instance>\0<member>` → the member's data as JSON;
 * - KEYS[2], a sorted set: `<instance>` scored by the server time (ms) until which it is alive.
 *
 * Each instance refreshes its score with a heartbeat; reading drops the fields of instances whose
 * score has passed, so members of a killed instance vanish without anyone cleaning up for it.
 * Times are the Redis server's (TIME), never an instance's clock, so clock skew between machines
 * does not shorten or stretch the expiry.
 */
const NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`

/** Drops every field of instance ARGV[1] from KEYS[1]. */
const FORGET_INSTANCE = `local prefix = ARGV[1] .. '\\0'
local fields = redis.call('HKEYS', KEYS[1])
for i = 1, #fields do
  if string.sub(fields[i], 1, #prefix) == prefix then redis.call('HDEL', KEYS[1], fields[i]) end
end`

export const PRESENCE_SCRIPTS = {
  /**
   * ARGV: instance, expiry ms, replace ('1': first drop the instance's other fields), then field,
   * value pairs to set. Marks the instance alive until now + expiry. Also the heartbeat (no pairs).
   */
  join: {
    numberOfKeys: 2,
    lua: `${NOW}
local expiry = tonumber(ARGV[2])
if ARGV[3] == '1' then ${FORGET_INSTANCE} end
for i = 4, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('ZADD', KEYS[2], now + expiry, ARGV[1])
-- The keys outlive their last heartbeat a little, then a forgotten topic leaves nothing behind.
redis.call('PEXPIRE', KEYS[1], expiry * 2)
redis.call('PEXPIRE', KEYS[2], expiry * 2)
return 1`,
  },
  /** ARGV: instance. Removes the instance and all its members (close()). */
  remove: {
    numberOfKeys: 2,
    lua: `${FORGET_INSTANCE}
redis.call('ZREM', KEYS[2], ARGV[1])
return 1`,
  },
  /** Returns [field, value, ...] of live instances' members, dropping those of expired ones. */
  read: {
    numberOfKeys: 2,
    lua: `${NOW}
local alive = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], now, '+inf')) do alive[id] = true end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. now)
local all = redis.call('HGETALL', KEYS[1])
local out = {}
for i = 1, #all, 2 do
  local field = all[i]
  local cut = string.find(field, '\\0', 1, true)
  if cut and alive[string.sub(field, 1, cut - 1)] then
    out[#out + 1] = field
    out[#out + 1] = all[i + 1]
  else
    redis.call('HDEL', KEYS[1], field)
  end
end
return out`,
  },
} as const
