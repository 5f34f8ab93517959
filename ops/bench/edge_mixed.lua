-- ops/bench/edge_mixed.lua - a mixed GET /v1/recs load for wrk.
--
--   wrk -t1 -c64 -d15s --latency -s ops/bench/edge_mixed.lua \
--       http://127.0.0.1:PORT -- LISTS_DIR [SEED [RING [FILTER]]]
--
-- init() draws RING (default 262144) requests of the mix once; request()
-- returns them in turn, starting over at the end.
--
-- LISTS_DIR holds the id lists that ops/bench/edge.sh prepares from the
-- recgen files, one entry a line:
--   products.txt      product ids, most popular first (truth_products.csv)
--   cookies_cf.txt    "cookie loc device" of cookies that purchased (they
--                     have a CF list), at most 100k
--   cookies_plain.txt "cookie loc device" of cookies that never purchased
--                     (no CF list: a miss in the cookie DB), at most 100k
--   locations.txt     location codes, busiest first
--
-- The mix (tests/bench_route.c draws the same one):
--   50 % browsing   products = 1 (60 %), 2 (30 %) or 3 (10 %) ids on
--                   screen, each a Zipf-ish pick over products.txt, 2 % of
--                   them an id that is not in the catalog; half of these
--                   requests also carry a known cookie with its loc/device
--   30 % returning  a known cookie with its loc and device: 85 % from
--                   cookies_cf.txt, 15 % from cookies_plain.txt
--   20 % new        an unknown random cookie, a Zipf-ish location and a
--                   device (mobile 60 %, desktop 30 %, tablet 10 %)
--   n = 10, or 20 for 10 % of requests.
-- FILTER (default none) adds request filters (schemas/http.md) to every
-- request once the whole ring is drawn, so the requests are otherwise the
-- same: "category" a category=, Zipf-ish over LISTS_DIR/categories.txt
-- (largest first); "exclude" an exclude= of five Zipf-ish products; "both".
-- "Zipf-ish": rank = floor((N+1)^u) for u uniform in [0, 1), so that
-- P(rank <= k) = log(k)/log(N+1), a Zipf law of exponent 1.
--
-- done() prints one line for ops/bench/edge.sh:
--   RESULT rps=... p50_us=... p99_us=... p999_us=... requests=... non2xx=... errors=...

local products, cf, plain, locations = {}, {}, {}, {}
local devices = { "mobile", "mobile", "mobile", "mobile", "mobile", "mobile", "desktop", "desktop", "desktop",
                  "tablet" }

local function read_lines(path, into, split)
    local f = assert(io.open(path, "r"), "edge_mixed.lua: unable to open " .. path)
    for line in f:lines() do
        if line ~= "" then
            if split then
                local c, l, d = line:match("^(%S+) (%S+) (%S+)$")
                if c then into[#into + 1] = { c, l, d } end
            else
                into[#into + 1] = line
            end
        end
    end
    f:close()
    assert(#into > 0, "edge_mixed.lua: " .. path .. " is empty")
end

local floor, exp, log, random = math.floor, math.exp, math.log, math.random

local function zipf(list)
    local n = #list
    local i = floor(exp(random() * log(n + 1)))
    if i > n then i = n end
    return list[i]
end

local function hex16()
    return string.format("%08x%08x", random(0, 0x7fffffff), random(0, 0x7fffffff))
end

local function product()
    if random() < 0.02 then
        return string.format("p9%07d", random(0, 9999999)) -- not in the catalog
    end
    return zipf(products)
end

local function known_cookie()
    if random() < 0.85 then return zipf(cf) end
    return zipf(plain)
end

local function draw()
    local u = random()
    local n = random() < 0.1 and 20 or 10
    local path
    if u < 0.5 then
        local k = random()
        local ids = product()
        if k >= 0.6 then ids = ids .. "," .. product() end
        if k >= 0.9 then ids = ids .. "," .. product() end
        if random() < 0.5 then
            local c = known_cookie()
            path = string.format("/v1/recs?cookie=%s&products=%s&loc=%s&device=%s&n=%d", c[1], ids, c[2], c[3], n)
        else
            path = string.format("/v1/recs?products=%s&n=%d", ids, n)
        end
    elseif u < 0.8 then
        local c = known_cookie()
        path = string.format("/v1/recs?cookie=%s&loc=%s&device=%s&n=%d", c[1], c[2], c[3], n)
    else
        path = string.format("/v1/recs?cookie=%s&loc=%s&device=%s&n=%d", hex16(), zipf(locations),
                             devices[random(1, #devices)], n)
    end
    return path
end

-- The requests are drawn once, in init(), into a ring that request() walks:
-- drawing costs wrk's thread several times what sending does, and a client
-- that saturates its core measures its own queueing, not the server's.
local ring, ring_size, ring_at = {}, 262144, 0
local categories = {}

local function with_filter(path, filter)
    if filter == "category" or filter == "both" then
        path = path .. "&category=" .. zipf(categories)
    end
    if filter == "exclude" or filter == "both" then
        local ids = {}
        for i = 1, 5 do ids[i] = zipf(products) end
        path = path .. "&exclude=" .. table.concat(ids, ",")
    end
    return path
end

function init(args)
    local dir = args[1] or "."
    read_lines(dir .. "/products.txt", products)
    read_lines(dir .. "/cookies_cf.txt", cf, true)
    read_lines(dir .. "/cookies_plain.txt", plain, true)
    read_lines(dir .. "/locations.txt", locations)
    math.randomseed(tonumber(args[2] or "1")) -- the same request sequence on every run
    ring_size = tonumber(args[3] or ring_size)
    local filter = args[4] or "none"
    assert(filter == "none" or filter == "category" or filter == "exclude" or filter == "both",
           "edge_mixed.lua: FILTER must be none, category, exclude or both")
    for i = 1, ring_size do ring[i] = draw() end
    if filter == "category" or filter == "both" then read_lines(dir .. "/categories.txt", categories) end
    for i = 1, ring_size do ring[i] = wrk.format("GET", with_filter(ring[i], filter)) end
end

function request()
    ring_at = ring_at + 1
    if ring_at > ring_size then ring_at = 1 end
    return ring[ring_at]
end

function done(summary, latency, requests)
    local non2xx = summary.errors.status
    local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
    io.write(string.format("RESULT rps=%.0f p50_us=%d p99_us=%d p999_us=%d requests=%d non2xx=%d errors=%d\n",
                           summary.requests / (summary.duration / 1e6), latency:percentile(50),
                           latency:percentile(99), latency:percentile(99.9), summary.requests, non2xx, errors))
end
