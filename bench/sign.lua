-- wrk script: every request is a fresh QuickBooks Online webhook (one CloudEvent), signed as Intuit signs it:
-- intuit-signature = base64(HMAC-SHA256(key = verifier token, msg = raw body)).
-- Settings come from the environment: BENCH_TOKEN (verifier token), BENCH_REALM (company Id),
-- BENCH_IDS (customer Ids 1..n the events name) and BENCH_PREFIX (keeps event ids unique across runs).
-- done() prints one line, "BENCH_RESULT {json}", that bench/load.py reads.

local bit = require("bit")
local band, bor, bxor, bnot = bit.band, bit.bor, bit.bxor, bit.bnot
local rshift, lshift, ror, tobit = bit.rshift, bit.lshift, bit.ror, bit.tobit
local byte, char, concat = string.byte, string.char, table.concat

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
for i = 1, 64 do K[i] = tobit(K[i]) end

local INITIAL = {
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
}
for i = 1, 8 do INITIAL[i] = tobit(INITIAL[i]) end

local W = {}

-- One SHA-256 compression of the 64-byte block at `at` in `s` into state `h` (a table of 8 words).
local function compress(h, s, at)
  for i = 1, 16 do
    local a, b, c, d = byte(s, at + (i - 1) * 4, at + (i - 1) * 4 + 3)
    W[i] = bor(lshift(a, 24), lshift(b, 16), lshift(c, 8), d)
  end
  for i = 17, 64 do
    local w15, w2 = W[i - 15], W[i - 2]
    local s0 = bxor(ror(w15, 7), ror(w15, 18), rshift(w15, 3))
    local s1 = bxor(ror(w2, 17), ror(w2, 19), rshift(w2, 10))
    W[i] = tobit(W[i - 16] + s0 + W[i - 7] + s1)
  end
  local a, b, c, d, e, f, g, hh = h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8]
  for i = 1, 64 do
    local s1 = bxor(ror(e, 6), ror(e, 11), ror(e, 25))
    local ch = bxor(band(e, f), band(bnot(e), g))
    local t1 = tobit(hh + s1 + ch + K[i] + W[i])
    local s0 = bxor(ror(a, 2), ror(a, 13), ror(a, 22))
    local maj = bxor(band(a, b), band(a, c), band(b, c))
    local t2 = tobit(s0 + maj)
    hh, g, f, e, d, c, b, a = g, f, e, tobit(d + t1), c, b, a, tobit(t1 + t2)
  end
  h[1], h[2], h[3], h[4] = tobit(h[1] + a), tobit(h[2] + b), tobit(h[3] + c), tobit(h[4] + d)
  h[5], h[6], h[7], h[8] = tobit(h[5] + e), tobit(h[6] + f), tobit(h[7] + g), tobit(h[8] + hh)
end

local function words_to_bytes(h)
  local out = {}
  for i = 1, 8 do
    local w = h[i]
    out[i] = char(band(rshift(w, 24), 255), band(rshift(w, 16), 255), band(rshift(w, 8), 255), band(w, 255))
  end
  return concat(out)
end

-- Finish a hash whose state `h` already took `done` bytes (whole blocks) and still has to take `msg`.
local function finish(h, msg, done)
  local total = done + #msg
  local tail = 64 - ((#msg + 9) % 64)
  if tail == 64 then tail = 0 end
  local bits = total * 8
  local length = char(0, 0, 0, band(math.floor(bits / 2 ^ 32), 255),
    band(rshift(bits, 24), 255), band(rshift(bits, 16), 255), band(rshift(bits, 8), 255), band(bits, 255))
  local padded = msg .. "\128" .. string.rep("\0", tail) .. length
  for at = 1, #padded, 64 do compress(h, padded, at) end
  return words_to_bytes(h)
end

local function copy(h) return { h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8] } end

-- The states after the key's inner and outer pad blocks, computed once per thread.
local function hmac_states(key)
  if #key > 64 then key = finish(copy(INITIAL), key, 0) end
  key = key .. string.rep("\0", 64 - #key)
  local inner, outer = {}, {}
  for i = 1, 64 do
    local k = byte(key, i)
    inner[i], outer[i] = char(bxor(k, 0x36)), char(bxor(k, 0x5c))
  end
  local hi, ho = copy(INITIAL), copy(INITIAL)
  compress(hi, concat(inner), 1)
  compress(ho, concat(outer), 1)
  return hi, ho
end

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function base64(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = byte(s, i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local c1, c2 = math.floor(n / 262144) % 64, math.floor(n / 4096) % 64
    local c3, c4 = math.floor(n / 64) % 64, n % 64
    out[#out + 1] = B64:sub(c1 + 1, c1 + 1) .. B64:sub(c2 + 1, c2 + 1)
      .. (b and B64:sub(c3 + 1, c3 + 1) or "=") .. (c and B64:sub(c4 + 1, c4 + 1) or "=")
  end
  return concat(out)
end

local inner_state, outer_state = hmac_states(os.getenv("BENCH_TOKEN") or "sim-verifier-token")
local realm = os.getenv("BENCH_REALM") or "9341453000000000"
local ids = tonumber(os.getenv("BENCH_IDS") or "1000")
local prefix = os.getenv("BENCH_PREFIX") or "bench"
local counter = 0

-- A self-test hook: `wrk` never calls it; bench/load.py checks the signature against Python's through it.
function sign(body)
  local digest = finish(copy(inner_state), body, 64)
  return base64(finish(copy(outer_state), digest, 64))
end

local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("thread_id", threads)
end

function request()
  counter = counter + 1
  local body = '[{"specversion":"1.0","id":"' .. prefix .. "-" .. (thread_id or 0)
    .. "-" .. counter .. '","source":"intuit.bench","type":"qbo.customer.updated.v1",'
    .. '"datacontenttype":"application/json","time":"2026-11-02T09:00:00.000000Z","intuitentityid":"'
    .. (counter % ids + 1) .. '","intuitaccountid":"' .. realm .. '","data":{}}]'
  return wrk.format("POST", nil, { ["Content-Type"] = "application/json", ["intuit-signature"] = sign(body) }, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"max_us":%d,'
      .. '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d,"non_2xx":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.timeout, e.status))
end
