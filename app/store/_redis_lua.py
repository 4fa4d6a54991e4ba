"""The server-side scripts of the Redis store (Lua, run with EVALSHA).

Every write is one script run: Redis runs it to the end before any other
command, so its checks and writes are atomic without WATCH or retries. A
script touches only the keys it is given, all of one hash tag (one cluster
slot). See :mod:`app.store.redis` for the key layout.
"""

from __future__ import annotations

__all__ = ["ALLOCATE", "CREDENTIAL", "LOCK", "MOVE", "SIGNIN", "STATUS", "WRITE"]

# SHA-256 in Lua 5.1 with Redis's bit library (the audit chain's hash when the
# caller's guess of the chain head was wrong; see WRITE). Sums of up to five
# 32-bit words are exact in a Lua number; bit.tobit wraps them modulo 2^32.
_SHA256 = r"""
local band, bor, bxor, bnot = bit.band, bit.bor, bit.bxor, bit.bnot
local rshift, lshift, ror, tobit, tohex = bit.rshift, bit.lshift, bit.ror, bit.tobit, bit.tohex
local K = {
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
}
local function sha256(msg)
  local n = #msg
  local bits = n * 8
  local hi, lo = math.floor(bits / 4294967296), bits % 4294967296
  msg = msg .. "\128" .. string.rep("\0", (55 - n) % 64) .. string.char(
    band(rshift(hi, 24), 255), band(rshift(hi, 16), 255), band(rshift(hi, 8), 255), band(hi, 255),
    band(rshift(lo, 24), 255), band(rshift(lo, 16), 255), band(rshift(lo, 8), 255), band(lo, 255))
  local h0, h1, h2, h3 = 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a
  local h4, h5, h6, h7 = 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19
  local w = {}
  for i = 1, #msg, 64 do
    for j = 0, 15 do
      local a, b, c, d = string.byte(msg, i + j * 4, i + j * 4 + 3)
      w[j] = bor(lshift(a, 24), lshift(b, 16), lshift(c, 8), d)
    end
    for j = 16, 63 do
      local x, y = w[j - 15], w[j - 2]
      w[j] = tobit(w[j - 16] + bxor(ror(x, 7), ror(x, 18), rshift(x, 3)) + w[j - 7]
        + bxor(ror(y, 17), ror(y, 19), rshift(y, 10)))
    end
    local a, b, c, d, e, f, g, h = h0, h1, h2, h3, h4, h5, h6, h7
    for j = 0, 63 do
      local t1 = h + bxor(ror(e, 6), ror(e, 11), ror(e, 25)) + bxor(g, band(e, bxor(f, g))) + K[j + 1] + w[j]
      local t2 = bxor(ror(a, 2), ror(a, 13), ror(a, 22)) + bor(band(a, b), band(c, bor(a, b)))
      h, g, f, e, d, c, b, a = g, f, e, tobit(d + t1), c, b, a, tobit(t1 + t2)
    end
    h0, h1, h2, h3 = tobit(h0 + a), tobit(h1 + b), tobit(h2 + c), tobit(h3 + d)
    h4, h5, h6, h7 = tobit(h4 + e), tobit(h5 + f), tobit(h6 + g), tobit(h7 + h)
  end
  return tohex(h0, 8) .. tohex(h1, 8) .. tohex(h2, 8) .. tohex(h3, 8)
    .. tohex(h4, 8) .. tohex(h5, 8) .. tohex(h6, 8) .. tohex(h7, 8)
end
"""

#: Checks, then writes, then audit entries appended to one chain.
#:
#: ARGV: number of checks, number of writes, then five values per instruction
#: (name, key index, three arguments), then the audit part: list key index
#: (0: none), head key index, the caller's guess of the head (seq, hash), the
#: number of entries, the first entry to read back (0: none; see below) and
#: four values per entry: the canonical JSON of the entry cut around its
#: ``prev`` and ``seq`` values (before, between, after) and the entry's hash
#: computed by the caller from its guess.
#:
#: Returns ``{0, n}`` when check ``n`` fails (nothing written), else ``{1}``
#: or, with audit entries, ``{1, seq, hash, entries}`` of the new head, with
#: ``entries`` the chain's entries from the one asked to read back up to the
#: last one before this write (at most 64): the audit checkpoint needs the
#: entry it anchors to still be in the log before it moves on, and reading it
#: here saves a round trip. When the head
#: is the guessed one (the caller wrote the chain's last entry: always, with
#: one writer), the caller's hashes are stored as they are; otherwise each entry
#: is hashed here. Either way no write is retried.
WRITE = (
    _SHA256
    + r"""
local nchecks, nwrites = tonumber(ARGV[1]), tonumber(ARGV[2])
local p = 3
for i = 1, nchecks do
  local op, k, a1, a2 = ARGV[p], KEYS[tonumber(ARGV[p + 1])], ARGV[p + 2], ARGV[p + 3]
  p = p + 5
  local ok
  if op == "absent" then ok = redis.call("EXISTS", k) == 0
  elseif op == "present" then ok = redis.call("EXISTS", k) == 1
  elseif op == "hfree" then ok = redis.call("HEXISTS", k, a1) == 0
  elseif op == "hpresent" then ok = redis.call("HEXISTS", k, a1) == 1
  elseif op == "eq" then ok = redis.call("GET", k) == a1
  elseif op == "heq" then ok = redis.call("HGET", k, a1) == a2
  elseif op == "member" then ok = redis.call("SISMEMBER", k, a1) == 1
  elseif op == "hfree_or_eq" then
    local v = redis.call("HGET", k, a1)
    ok = (not v) or v == a2
  else return redis.error_reply("hcert: unknown check " .. op) end
  if not ok then return {0, i} end
end
-- Every write's operation is known before the first one runs: never half a record.
local known = {set = 1, setkeepttl = 1, setex = 1, del = 1, hset = 1, hdel = 1, hincrby = 1, zadd = 1,
  zforget = 1, rpush = 1, sadd = 1, srem = 1, u2 = 1}
for i = 0, nwrites - 1 do
  local op = ARGV[p + 5 * i]
  if not known[op] then return redis.error_reply("hcert: unknown write " .. tostring(op)) end
end
for i = 1, nwrites do
  local op, k, a1, a2, a3 = ARGV[p], KEYS[tonumber(ARGV[p + 1])], ARGV[p + 2], ARGV[p + 3], ARGV[p + 4]
  p = p + 5
  if op == "set" then redis.call("SET", k, a1)
  elseif op == "setkeepttl" then redis.call("SET", k, a1, "KEEPTTL")
  elseif op == "setex" then redis.call("SET", k, a1, "EX", a2)
  elseif op == "del" then redis.call("DEL", k)
  elseif op == "hset" then redis.call("HSET", k, a1, a2)
  elseif op == "hdel" then redis.call("HDEL", k, a1)
  elseif op == "hincrby" then redis.call("HINCRBY", k, a1, a2)
  elseif op == "zadd" then redis.call("ZADD", k, a1, a2)
  elseif op == "zforget" then redis.call("ZREMRANGEBYSCORE", k, "-inf", a1)
  elseif op == "rpush" then redis.call("RPUSH", k, a1)
  elseif op == "sadd" then redis.call("SADD", k, a1)
  elseif op == "srem" then redis.call("SREM", k, a1)
  elseif op == "u2" then redis.call("BITFIELD", k, "SET", "u2", a1, a2)
  else return redis.error_reply("hcert: unknown write " .. op) end
end
local list, headkey = tonumber(ARGV[p]), tonumber(ARGV[p + 1])
if list == 0 then return {1} end
local guess_seq, guess_prev, n, want = ARGV[p + 2], ARGV[p + 3], tonumber(ARGV[p + 4]), tonumber(ARGV[p + 5])
p = p + 6
local seq, prev = 0, string.rep("0", 64)
local head = redis.call("GET", KEYS[headkey])
if head then
  local sp = string.find(head, " ", 1, true)
  seq, prev = tonumber(string.sub(head, 1, sp - 1)), string.sub(head, sp + 1)
end
local seen = {}
if want > 0 and want <= seq then
  seen = redis.call("LRANGE", KEYS[list], want - 1, math.min(seq, want + 63) - 1)
end
local trusted = tostring(seq) == guess_seq and prev == guess_prev
for i = 1, n do
  seq = seq + 1
  local canonical = ARGV[p] .. prev .. ARGV[p + 1] .. string.format("%d", seq) .. ARGV[p + 2]
  local digest = ARGV[p + 3]
  if not trusted then digest = sha256(canonical) end
  p = p + 4
  redis.call("RPUSH", KEYS[list], "[" .. canonical .. ',"' .. digest .. '"]')
  prev = digest
end
redis.call("SET", KEYS[headkey], string.format("%d", seq) .. " " .. prev)
return {1, string.format("%d", seq), prev, seen}
"""
)

#: Reserve status entries in an authority's newest list, starting the next list when it is half full.
#:
#: KEYS[1]: the authority's lists in use (hash: list number -> entries reserved); KEYS[2] and
#: KEYS[3]: the reserved sets of lists ``g`` and ``g + 1`` (same hash tag), ``g`` being the
#: caller's guess of the newest list (ARGV[1]). ARGV[2]: half the list size; then random
#: candidate indexes. Returns the list number and the candidates it reserved (those not taken
#: already, up to the list's room; the caller asks again for the rest), or ``{-1, n}`` with
#: nothing written when the list to use, ``n``, is neither guessed one (the caller asks again
#: with ``n``): the sets touched are always among KEYS.
ALLOCATE = r"""
local used = redis.call("HGETALL", KEYS[1])
local lst, n = -1, 0
for i = 1, #used, 2 do
  local l = tonumber(used[i])
  if l > lst then lst, n = l, tonumber(used[i + 1]) end
end
local guess, half = tonumber(ARGV[1]), tonumber(ARGV[2])
local fresh = lst < 0 or n >= half
if fresh then lst, n = lst + 1, 0 end
local slots
if lst == guess then slots = KEYS[2] elseif lst == guess + 1 then slots = KEYS[3] else return {-1, lst} end
if fresh then redis.call("HSETNX", KEYS[1], string.format("%d", lst), 0) end
local room = half - n
local won = {lst}
for i = 3, #ARGV do
  if #won - 1 >= room then break end
  if redis.call("SADD", slots, ARGV[i]) == 1 then won[#won + 1] = tonumber(ARGV[i]) end
end
if #won > 1 then redis.call("HINCRBY", KEYS[1], string.format("%d", lst), #won - 1) end
return won
"""

#: A credential's operator and that operator's authority, read together (one round trip for what
#: every authenticated request needs). KEYS: the credential index, the operators, the authorities
#: (the directory's hash tag); ARGV[1]: the credential's hash. Returns ``{}`` (no such credential),
#: or ``{operator}`` or ``{operator, authority}`` as stored (JSON).
CREDENTIAL = r"""
local id = redis.call("HGET", KEYS[1], ARGV[1])
if not id then return {} end
local op = redis.call("HGET", KEYS[2], id)
if not op then return {} end
local code = cjson.decode(op)["authority"]
local authority = type(code) == "string" and redis.call("HGET", KEYS[3], code)
if not authority then return {op} end
return {op, authority}
"""

#: Count one failed sign-in per key (all of one hash tag); ARGV[1]: seconds to keep a count.
SIGNIN = r"""
local out = {}
for i, k in ipairs(KEYS) do
  out[i] = redis.call("INCR", k)
  redis.call("EXPIRE", k, ARGV[1])
end
return out
"""

#: A status list's bits and version, read together: KEYS bits, versions, lists in use; ARGV the list number.
STATUS = r"""
if redis.call("HEXISTS", KEYS[3], ARGV[1]) == 0 then return {0} end
return {1, redis.call("GET", KEYS[1]) or "", redis.call("HGET", KEYS[2], ARGV[1]) or "0"}
"""

#: Move a key of the single-server layout to its new name: KEYS[1] to KEYS[2], if KEYS[1] is still there.
#: Returns 1 if it moved it, 0 if another instance had (moving again is harmless).
MOVE = r"""
if redis.call("EXISTS", KEYS[1]) == 0 then return 0 end
redis.call("RENAME", KEYS[1], KEYS[2])
return 1
"""

#: Renew (ARGV[2]: milliseconds) or release ("0") the lock KEYS[1] if it still holds ARGV[1]; return 1 if it did.
LOCK = r"""
if redis.call("GET", KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == "0" then redis.call("DEL", KEYS[1]) else redis.call("PEXPIRE", KEYS[1], ARGV[2]) end
return 1
"""

#: SHA-256 alone, for the test that compares it with hashlib.
SHA256_ONLY = _SHA256 + "\nreturn sha256(ARGV[1])\n"
