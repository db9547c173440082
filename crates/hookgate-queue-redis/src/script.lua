-- Shared by every hookgate Redis script. ARGV[1] is the key prefix.
--
-- One hash per delivery, P:d:<n>, with fields
--   src id recv hdr body [ck] att [err] st [eid] [tok] [derr dat deid]
-- where st is 'w' (waiting in P:stream, not yet read by the group),
-- 'l' (leased: read by the group, pending, expiry in P:leases),
-- 's' (scheduled: in P:due, not in the stream) or 'x' (dead, in P:dead).
local P = ARGV[1]
local STREAM = P .. ':stream'
local LEASES = P .. ':leases'
local DUE = P .. ':due'
local DEAD = P .. ':dead'
local DEADIDX = P .. ':deadidx'
local COAL = P .. ':coalesce'
local SEQ = P .. ':seq'
local TOK = P .. ':token'
local GROUP = 'hookgate'

local function dkey(n) return P .. ':d:' .. n end
-- Length-prefixed so that no two (a, b) pairs give the same string.
local function pair(a, b) return string.len(a) .. ':' .. a .. b end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function opt(v)
  if v then return '+' .. v end
  return '-'
end

-- Forgets waiting delivery n entirely (a newer version replaced it).
local function drop_waiting(n)
  local st, eid = unpack(redis.call('HMGET', dkey(n), 'st', 'eid'))
  if st == 'w' then
    redis.call('XDEL', STREAM, eid)
  elseif st == 's' then
    redis.call('ZREM', DUE, n)
  end
  redis.call('DEL', dkey(n))
end

-- Registers waiting delivery n under its coalescing key. Returns false when
-- a newer version already waits (n is dropped); an older one is dropped.
local function place_waiting(n)
  local src, ck, recv = unpack(redis.call('HMGET', dkey(n), 'src', 'ck', 'recv'))
  if not ck then return true end
  local slot = pair(src, ck)
  local other = redis.call('HGET', COAL, slot)
  if other and other ~= n then
    local ost, orecv = unpack(redis.call('HMGET', dkey(other), 'st', 'recv'))
    if ost == 'w' or ost == 's' then
      if tonumber(orecv) > tonumber(recv) then
        drop_waiting(n)
        return false
      end
      drop_waiting(other)
    end
  end
  redis.call('HSET', COAL, slot, n)
  return true
end

-- Whether token tok still holds the lease on n.
local function holds(n, tok)
  local st, held = unpack(redis.call('HMGET', dkey(n), 'st', 'tok'))
  return st == 'l' and held == tok
end

-- Takes n out of the group's pending list and the stream.
local function unlease(n)
  local eid = redis.call('HGET', dkey(n), 'eid')
  redis.call('XACK', STREAM, GROUP, eid)
  redis.call('XDEL', STREAM, eid)
  redis.call('ZREM', LEASES, n)
  redis.call('HSET', dkey(n), 'eid', '')
end

local function schedule(n, at)
  redis.call('HSET', dkey(n), 'st', 's')
  redis.call('ZADD', DUE, at, n)
  place_waiting(n)
end
