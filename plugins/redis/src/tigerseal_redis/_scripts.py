"""Server-side Lua for the rate-limit algorithms: one ``EVALSHA`` round trip per decision.

Semantics are those of :class:`tigerseal.spi.RateLimitPolicy` (the memory storage implements
the same). Every script works in integer microseconds and takes the clock from Redis (``TIME``)
unless the caller passes ``now``, so every machine sharing a limit agrees on time. State is one
key per (user key, algorithm); the keys of one user key share the hash tag ``{key}``, so a
cluster keeps them on one slot and ``reset`` deletes them with one ``DEL``.

Calling convention (all scripts)::

    KEYS[1]  state key
    ARGV[1]  limit              ARGV[2]  window (microseconds)
    ARGV[3]  cost               ARGV[4]  now (microseconds) or "" for the server clock
    ARGV[5]  1 = peek (count nothing)
    ARGV[6]  unique member tag (log)  /  burst (gcra)

    returns {allowed (0/1), remaining, reset_after_us, retry_after_us (-1: never)}

Redis truncates Lua numbers to integers in replies, hence microseconds.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

__all__ = ["SCRIPTS", "Script"]

_PRELUDE = """
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local now
if ARGV[4] ~= '' then
  now = tonumber(ARGV[4])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local peek = ARGV[5] == '1'
"""

# Sliding-window log: one sorted-set member per unit, scored by its time. The window is
# (now - window, now]: a unit counted at t stops counting at t + window exactly.
_LOG = (
    _PRELUDE
    + """
local tag = ARGV[6]
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local used = redis.call('ZCARD', KEYS[1])
local allowed = 0
local added = false
if used + cost <= limit then
  allowed = 1
  if not peek and cost > 0 then
    -- ZADD in chunks: Lua's C stack holds a few thousand arguments at most.
    local i = 1
    while i <= cost do
      local args = {}
      local last = math.min(cost, i + 499)
      for j = i, last do
        args[#args + 1] = now
        args[#args + 1] = tag .. ':' .. j
      end
      redis.call('ZADD', KEYS[1], unpack(args))
      i = last + 1
    end
    used = used + cost
    redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000))
    added = true
  end
end
local reset = 0
if added then
  reset = window  -- the newest unit is the one just added, at now
elseif used > 0 then
  local newest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
  reset = tonumber(newest[2]) + window - now
end
local retry = 0
if allowed == 0 then
  if cost > limit then
    retry = -1
  else
    -- the (used + cost - limit)-th oldest unit must expire first
    local k = used + cost - limit
    local entry = redis.call('ZRANGE', KEYS[1], k - 1, k - 1, 'WITHSCORES')
    retry = tonumber(entry[2]) + window - now
  end
end
local remaining = limit - used
if remaining < 0 then remaining = 0 end
return {allowed, remaining, reset, retry}
"""
)

# Sliding-window counter: two fixed windows, the previous one weighted by how much of it still
# overlaps the sliding window (Cloudflare's approximation). State: one string
# "<window index>:<current count>:<previous count>" (GET + SET PX: cheaper than a hash).
_COUNTER = (
    _PRELUDE
    + """
local idx = math.floor(now / window)
local st = redis.call('GET', KEYS[1])
local w, c, p = nil, 0, 0
if st then
  local sw, sc, sp = string.match(st, '^(%d+):(%d+):(%d+)$')
  if sw then w = tonumber(sw); c = tonumber(sc); p = tonumber(sp) end
end
if w == nil then
  c = 0; p = 0
elseif idx == w + 1 then
  p = c; c = 0
elseif idx > w + 1 then
  p = 0; c = 0
elseif idx < w then
  idx = w  -- a caller-supplied clock went backwards: stay in the newest window
end
local start = idx * window
local elapsed = now - start
if elapsed < 0 then elapsed = 0 end
local weight = (window - elapsed) / window
local eps = 1e-9
local allowed = 0
if p * weight + c + cost <= limit + eps then
  allowed = 1
  if not peek and cost > 0 then
    c = c + cost
    local ms = math.ceil((2 * window - elapsed) / 1000)
    redis.call('SET', KEYS[1], string.format('%d:%d:%d', idx, c, p), 'PX', ms)
  end
end
local remaining = math.floor(limit - (p * weight + c) + eps)
if remaining < 0 then remaining = 0 end
local reset = 0
if c > 0 then
  reset = start + 2 * window - now
elseif p > 0 then
  reset = start + window - now
end
local retry = 0
if allowed == 0 then
  if cost > limit then
    retry = -1
  elseif c + cost <= limit then
    -- wait in this window until the previous window's weight has decayed enough
    local at = start + window * (1 - (limit - c - cost) / p)
    retry = math.ceil(at - now)
  else
    -- wait into the next window, where this window's count becomes the weighted one
    local at = start + window + window * (1 - (limit - cost) / c)
    retry = math.ceil(at - now)
  end
  if retry < 0 then retry = 0 end
end
return {allowed, remaining, reset, retry}
"""
)

# GCRA (generic cell rate algorithm): one number per key, the theoretical arrival time (TAT).
# Emission interval T = window / limit, rounded up to a whole microsecond so every comparison
# below is exact integer arithmetic; burst tolerance tau = burst * T.
_GCRA = (
    _PRELUDE
    + """
local burst = tonumber(ARGV[6])
local T = math.ceil(window / limit)
local tau = T * burst
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local new_tat = tat + T * cost
local allow_at = new_tat - tau
local allowed = 0
local used_tat = tat
local retry = 0
if now >= allow_at then
  allowed = 1
  if not peek and cost > 0 then
    used_tat = new_tat
    local ms = math.ceil((new_tat - now) / 1000)
    if ms < 1 then ms = 1 end
    redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', ms)
  end
elseif T * cost > tau then
  retry = -1
else
  retry = allow_at - now
end
local remaining = math.floor((tau - (used_tat - now)) / T)
if remaining < 0 then remaining = 0 end
return {allowed, remaining, used_tat - now, retry}
"""
)


@dataclass(frozen=True)
class Script:
    """A Lua script and its SHA1, which ``EVALSHA`` uses to run the server's cached copy."""

    name: str
    source: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        # SHA1 is how Redis names cached scripts; not a security use.
        digest = hashlib.sha1(self.source.encode(), usedforsecurity=False).hexdigest()
        object.__setattr__(self, "sha", digest)


SCRIPTS: dict[str, Script] = {
    "sliding_window_log": Script("sliding_window_log", _LOG),
    "sliding_window_counter": Script("sliding_window_counter", _COUNTER),
    "gcra": Script("gcra", _GCRA),
}
