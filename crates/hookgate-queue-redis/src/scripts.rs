//! The Lua scripts that make every queue operation one atomic step on the server.
//!
//! Each script is the shared prelude (`script.lua`: key names and helpers)
//! followed by one operation. `KEYS[1]` is always the work stream, so a
//! cluster routes the call to the slot that holds the queue; `ARGV[1]` is the
//! key prefix (in a cluster it must contain a hash tag, e.g. `{hookgate}`, so
//! every key of the queue lives in that slot).

use redis::Script;

macro_rules! script {
    ($body:literal) => {
        concat!(include_str!("script.lua"), $body)
    };
}

/// ARGV: prefix, source, id, received (µs), headers, body, has coalesce key
/// ('1'/'0'), coalesce key, dedup window (ms).
/// Returns 'enqueued', 'duplicate' or 'superseded'.
const ENQUEUE: &str = script!(
    r#"
local seen = P .. ':seen:' .. pair(ARGV[2], ARGV[3])
if not redis.call('SET', seen, '1', 'NX', 'PX', ARGV[9]) then
  return 'duplicate'
end
local n = tostring(redis.call('INCR', SEQ))
redis.call('HSET', dkey(n), 'src', ARGV[2], 'id', ARGV[3], 'recv', ARGV[4],
  'hdr', ARGV[5], 'body', ARGV[6], 'att', 0)
if ARGV[7] == '1' then redis.call('HSET', dkey(n), 'ck', ARGV[8]) end
local eid = redis.call('XADD', STREAM, '*', 'n', n)
redis.call('HSET', dkey(n), 'st', 'w', 'eid', eid)
if place_waiting(n) then return 'enqueued' end
return 'superseded'
"#
);

/// ARGV: prefix, consumer, max, visibility (ms), number of skipped sources, sources...
/// Returns {lease expiry (ms), {{n, token, attempt, src, id, recv, hdr, body, ck, err}...}}.
const LEASE: &str = script!(
    r#"
local now = now_ms()
local max = tonumber(ARGV[3])
local expiry = now + tonumber(ARGV[4])
local skip = {}
for i = 6, 5 + tonumber(ARGV[5]) do skip[ARGV[i]] = true end
redis.pcall('XGROUP', 'CREATE', STREAM, GROUP, '0', 'MKSTREAM')

-- Retries that are due go back to the stream.
for _, n in ipairs(redis.call('ZRANGEBYSCORE', DUE, '-inf', now, 'LIMIT', 0, 1000)) do
  redis.call('ZREM', DUE, n)
  local eid = redis.call('XADD', STREAM, '*', 'n', n)
  redis.call('HSET', dkey(n), 'st', 'w', 'eid', eid)
end

local out = {}
local function grant(n)
  local tok = tostring(redis.call('INCR', TOK))
  local att = redis.call('HINCRBY', dkey(n), 'att', 1)
  redis.call('HSET', dkey(n), 'st', 'l', 'tok', tok)
  redis.call('ZADD', LEASES, expiry, n)
  local f = redis.call('HMGET', dkey(n), 'src', 'id', 'recv', 'hdr', 'body', 'ck', 'err')
  if f[6] and redis.call('HGET', COAL, pair(f[1], f[6])) == n then
    redis.call('HDEL', COAL, pair(f[1], f[6]))
  end
  out[#out + 1] = {n, tok, tostring(att), f[1], f[2], f[3], f[4], f[5], opt(f[6]), opt(f[7])}
end

if max > 0 then
  -- Leases whose holder let them expire (crashed, or too slow) are taken
  -- over first: they have waited longest.
  for _, n in ipairs(redis.call('ZRANGEBYSCORE', LEASES, '-inf', now, 'LIMIT', 0, max + 100)) do
    if #out >= max then break end
    local src, eid = unpack(redis.call('HMGET', dkey(n), 'src', 'eid'))
    if not skip[src] then
      redis.call('XCLAIM', STREAM, GROUP, ARGV[2], 0, eid, 'JUSTID')
      grant(n)
    end
  end
  while #out < max do
    local read = redis.call('XREADGROUP', 'GROUP', GROUP, ARGV[2], 'COUNT', max - #out,
      'STREAMS', STREAM, '>')
    if not read or #read[1][2] == 0 then break end
    for _, entry in ipairs(read[1][2]) do
      local eid, n = entry[1], entry[2][2]
      if skip[redis.call('HGET', dkey(n), 'src')] then
        -- Hand it back at once, without counting an attempt.
        redis.call('XACK', STREAM, GROUP, eid)
        redis.call('XDEL', STREAM, eid)
        redis.call('HSET', dkey(n), 'eid', '', 'st', 's')
        redis.call('ZADD', DUE, now, n)
      else
        redis.call('HSET', dkey(n), 'eid', eid)
        grant(n)
      end
    end
  end
end
return {expiry, out}
"#
);

/// ARGV: prefix, visibility (ms), then n and token of each lease.
/// Returns {new expiry (ms), {1 extended or 0 lost, ...}}.
const EXTEND: &str = script!(
    r#"
local expiry = now_ms() + tonumber(ARGV[2])
local out = {}
for i = 3, #ARGV - 1, 2 do
  if holds(ARGV[i], ARGV[i + 1]) then
    redis.call('ZADD', LEASES, 'XX', expiry, ARGV[i])
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return {expiry, out}
"#
);

/// ARGV: prefix, n, token. Returns 1, or 0 when the lease is lost.
const ACK: &str = script!(
    r#"
if not holds(ARGV[2], ARGV[3]) then return 0 end
unlease(ARGV[2])
redis.call('DEL', dkey(ARGV[2]))
return 1
"#
);

/// ARGV: prefix, n, token, due (ms), error.
const RETRY: &str = script!(
    r#"
if not holds(ARGV[2], ARGV[3]) then return 0 end
unlease(ARGV[2])
redis.call('HSET', dkey(ARGV[2]), 'err', ARGV[5])
schedule(ARGV[2], tonumber(ARGV[4]))
return 1
"#
);

/// ARGV: prefix, n, token.
const RELEASE: &str = script!(
    r#"
if not holds(ARGV[2], ARGV[3]) then return 0 end
unlease(ARGV[2])
redis.call('HINCRBY', dkey(ARGV[2]), 'att', -1)
schedule(ARGV[2], now_ms())
return 1
"#
);

/// ARGV: prefix, n, token, error.
const DEAD_LETTER: &str = script!(
    r#"
local n = ARGV[2]
if not holds(n, ARGV[3]) then return 0 end
unlease(n)
local deid = redis.call('XADD', DEAD, '*', 'n', n, 'error', ARGV[4])
redis.call('HSET', dkey(n), 'st', 'x', 'err', ARGV[4], 'derr', ARGV[4],
  'dat', now_ms(), 'deid', deid)
local src, id = unpack(redis.call('HMGET', dkey(n), 'src', 'id'))
redis.call('HSET', DEADIDX, pair(src, id), n)
return 1
"#
);

/// ARGV: prefix. Returns how many expired leases were made waiting again.
const RECOVER: &str = script!(
    r#"
local count = 0
local expired = redis.call('ZRANGEBYSCORE', LEASES, '-inf', now_ms(), 'WITHSCORES')
for i = 1, #expired, 2 do
  local n = expired[i]
  unlease(n)
  schedule(n, tonumber(expired[i + 1]))
  count = count + 1
end
return count
"#
);

/// ARGV: prefix. Returns every dead letter as
/// {src, id, recv, hdr, body, ck, err, attempts, error, dead at (ms)}.
const LIST_DEAD: &str = script!(
    r#"
local out = {}
for _, entry in ipairs(redis.call('XRANGE', DEAD, '-', '+')) do
  local n = entry[2][2]
  local f = redis.call('HMGET', dkey(n), 'src', 'id', 'recv', 'hdr', 'body', 'ck', 'err', 'att', 'derr', 'dat')
  if f[1] then
    out[#out + 1] = {f[1], f[2], f[3], f[4], f[5], opt(f[6]), opt(f[7]), f[8], f[9], f[10]}
  end
end
return out
"#
);

/// ARGV: prefix, 'one' source id | 'all' | 'window' from (µs) to (µs).
/// Returns how many were replayed, or -1 when 'one' found nothing.
const REPLAY: &str = script!(
    r#"
local function revive(n)
  local src, id, deid = unpack(redis.call('HMGET', dkey(n), 'src', 'id', 'deid'))
  redis.call('XDEL', DEAD, deid)
  redis.call('HDEL', DEADIDX, pair(src, id))
  redis.call('HDEL', dkey(n), 'derr', 'dat', 'deid')
  redis.call('HSET', dkey(n), 'att', 0)
  schedule(n, 0)
end
if ARGV[2] == 'one' then
  local n = redis.call('HGET', DEADIDX, pair(ARGV[3], ARGV[4]))
  if not n then return -1 end
  revive(n)
  return 1
end
local count = 0
for _, entry in ipairs(redis.call('XRANGE', DEAD, '-', '+')) do
  local n = entry[2][2]
  local recv = tonumber(redis.call('HGET', dkey(n), 'recv'))
  if recv and (ARGV[2] == 'all' or (recv >= tonumber(ARGV[3]) and recv < tonumber(ARGV[4]))) then
    revive(n)
    count = count + 1
  end
end
return count
"#
);

/// ARGV: prefix. Returns {ready, scheduled, leased, dead, oldest ready
/// received (µs) or -1, now (ms)}.
const STATS: &str = script!(
    r#"
local now = now_ms()
local leased = redis.call('ZCARD', LEASES)
local waiting = math.max(redis.call('XLEN', STREAM) - leased, 0)
local due_now = redis.call('ZCOUNT', DUE, '-inf', now)
local scheduled = redis.call('ZCOUNT', DUE, '(' .. now, '+inf')
local dead = redis.call('XLEN', DEAD)

-- The oldest ready delivery is looked for among the first 100 waiting in
-- the stream and the 100 longest-due retries: exact unless the queue holds
-- far older deliveries behind newer ones.
local oldest = -1
local function consider(n)
  local recv = tonumber(redis.call('HGET', dkey(n), 'recv'))
  if recv and (oldest < 0 or recv < oldest) then oldest = recv end
end
if waiting > 0 then
  local from = '-'
  for _, group in ipairs(redis.call('XINFO', 'GROUPS', STREAM)) do
    for i = 1, #group, 2 do
      if group[i] == 'name' and group[i + 1] == GROUP then
        for j = 1, #group, 2 do
          if group[j] == 'last-delivered-id' then from = '(' .. group[j + 1] end
        end
      end
    end
  end
  for _, entry in ipairs(redis.call('XRANGE', STREAM, from, '+', 'COUNT', 100)) do
    consider(entry[2][2])
  end
end
for _, n in ipairs(redis.call('ZRANGEBYSCORE', DUE, '-inf', now, 'LIMIT', 0, 100)) do
  consider(n)
end
return {waiting + due_now, scheduled, leased, dead, oldest, now}
"#
);

/// The compiled scripts (each sent once, then called by its SHA).
#[derive(Debug)]
pub(crate) struct Scripts {
    pub(crate) enqueue: Script,
    pub(crate) lease: Script,
    pub(crate) extend: Script,
    pub(crate) ack: Script,
    pub(crate) retry: Script,
    pub(crate) release: Script,
    pub(crate) dead_letter: Script,
    pub(crate) recover: Script,
    pub(crate) list_dead: Script,
    pub(crate) replay: Script,
    pub(crate) stats: Script,
}

impl Scripts {
    pub(crate) fn new() -> Self {
        Self {
            enqueue: Script::new(ENQUEUE),
            lease: Script::new(LEASE),
            extend: Script::new(EXTEND),
            ack: Script::new(ACK),
            retry: Script::new(RETRY),
            release: Script::new(RELEASE),
            dead_letter: Script::new(DEAD_LETTER),
            recover: Script::new(RECOVER),
            list_dead: Script::new(LIST_DEAD),
            replay: Script::new(REPLAY),
            stats: Script::new(STATS),
        }
    }
}
