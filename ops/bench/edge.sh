#!/usr/bin/env bash
# ops/bench/edge.sh - recedge under a mixed /v1/recs load, side by side with
# nginx (a static file) and redis (GET), plus the in-process route benchmark
# and recedge's memory with 10,000 connections.
#
#   ops/bench/edge.sh                     everything, 3 alternating runs
#   BIN=build-other ops/bench/edge.sh     another build folder (default build/);
#                                         it needs recgen, recbuild, recedge
#                                         and tests/bench_route
#   DATA=/big/disk/edgebench ops/bench/edge.sh   where the generated inputs,
#                                         the cache and the id lists live;
#                                         reused on the next run (default
#                                         ${TMPDIR:-/tmp}/edgerec-bench)
#   RUNS=1 DURATION=10s ops/bench/edge.sh a shorter run
#   CONNS="64" ops/bench/edge.sh          the wrk connection counts to run
#                                         (default "16 32 64")
#   EVENTS=2000000 ops/bench/edge.sh      fewer events (still 1M cookies)
#   ops/bench/edge.sh filters             only steps 1, 2, 3d and 4c: the
#                                         overlay and request filters
#   BASE=build-before ops/bench/edge.sh filters
#                                         also the same requests against
#                                         another build's recedge and
#                                         bench_route (the plain path
#                                         before a change), side by side
#
# Steps: (1) recgen 1M cookies, 100k products, 64-d embeddings and recbuild
# (--iterations 3) unless DATA already holds them; (2) id lists for
# ops/bench/edge_mixed.lua; (3) bench_route (tests/bench_route.c), then
# its browsing route alone with image + coview lists and with image lists
# only (BENCH_MIX=browse, BENCH_LISTS); (3c) the mix with display fields
# (BENCH_FIELDS=title,image_url,price,url) side by side with none, at n 5
# and 20 (BENCH_N): recgen's catalog gives every product a title and a price;
# (4) RUNS times, back to back, for each of CONNS: recedge --threads 1 on
# core 0 and wrk on core 1 (wrk -t1 -cCONNS -dDURATION --latency -s
# edge_mixed.lua), the same wrk against nginx (one worker on core 0, a
# static JSON file of the mean answer size, keepalive, access_log off),
# alternating which goes first, with the CPU time each server and wrk
# used; then redis-benchmark (core 1, 64 connections) against redis-server
# (core 0) GET of values of that size; (4b) at the largest of CONNS, recedge
# with --exposure-log (every answer logged) against recedge without; (5)
# recedge's RSS, at its default --conn-memory, while wrk holds 10,000
# keep-alive connections; (6) its RSS with 10,000 idle kept-alive
# connections and with 10,000 half-sent requests (ops/bench/edge_conns.py).
# (3d) and (4c): the plain mix against the same mix with an overlay of
# 10,000 products (drawn uniformly from the catalog) and with request
# filters (a category= on every request, an exclude= of five products,
# both), in bench_route and under wrk, rounds alternating.
# Every server is started by this script and stopped by its PID on exit.
# Results and the commands are recorded in ops/bench/edge.md.
set -euo pipefail
export LC_ALL=C

# shellcheck source=ops/bench/common.sh
source "$(dirname "$0")/common.sh"
data=${DATA:-${TMPDIR:-/tmp}/edgerec-bench}
runs=${RUNS:-3}
duration=${DURATION:-15s}
conns_list=${CONNS:-16 32 64}
events=${EVENTS:-5000000}
lua=$root/ops/bench/edge_mixed.lua
only=
case "${1:-}" in
    -h|--help) sed -n '2,50s/^# \{0,1\}//p' "$0"; exit 0 ;;
    '') ;;
    filters) only=filters ;;
    *) printf 'edge.sh: unknown option %s\n' "$1" >&2; exit 2 ;;
esac

for p in builder/recgen builder/recbuild edge/recedge tests/bench_route; do
    [ -x "$bin/$p" ] || { printf 'edge.sh: %s is not built (cmake --build %s)\n' "$bin/$p" "$bin" >&2; exit 1; }
done
for t in wrk nginx redis-server redis-benchmark taskset curl python3; do
    command -v "$t" > /dev/null || { printf 'edge.sh: %s is missing\n' "$t" >&2; exit 1; }
done
[ "$(nproc)" -ge 2 ] || { printf 'edge.sh: needs 2 cores (server on 0, client on 1)\n' >&2; exit 1; }

scratch=$(mktemp -d "${TMPDIR:-/tmp}/edge-bench.XXXXXX")
pids=()
cleanup() {
    for p in "${pids[@]}"; do
        kill "$p" 2> /dev/null || true
    done
    for p in "${pids[@]}"; do
        wait "$p" 2> /dev/null || true
    done
    rm -rf "$scratch"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

load() { cut -d' ' -f1-3 /proc/loadavg; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_http() { # url
    for _ in $(seq 1 100); do
        curl -fs -o /dev/null "$1" && return 0
        sleep 0.1
    done
    printf 'edge.sh: %s does not answer\n' "$1" >&2
    return 1
}

# ---- (1) inputs and cache ----
mkdir -p "$data"
gen_args=(--seed 7 --events "$events" --cookies 1000000 --products 100000 --categories 200 --dim 64)
build_args=(--iterations 3 --n 20 --progress never --log-level warn)
stamp="recgen ${gen_args[*]} / recbuild ${build_args[*]} / coview lists / display fields / category lists"
# Reused only when this build reads it (a new cache format needs a rebuild).
if [ -L "$data/cache/current" ] && [ "$(cat "$data/bench.stamp" 2> /dev/null)" = "$stamp" ] &&
    "$bin/edge/recctl" --root "$data/cache" verify > /dev/null 2>&1; then
    printf 'data: reusing %s\n' "$data"
else
    rm -rf "$data/inputs" "$data/cache" "$data/lists" "$data/bench.stamp"
    t0=$(date +%s)
    "$bin/builder/recgen" --out "$data/inputs" "${gen_args[@]}" --log-level warn
    t1=$(date +%s)
    "$bin/builder/recbuild" --events "$data/inputs/events.csv" --catalog "$data/inputs/catalog.csv" \
        --embeddings "$data/inputs/emb.npy" --out "$data/cache" "${build_args[@]}" > /dev/null
    printf 'data: recgen %ss, recbuild %ss\n' "$((t1 - t0))" "$(($(date +%s) - t1))"
    printf '%s\n' "$stamp" > "$data/bench.stamp"
fi
version_dir=$(readlink -f "$data/cache/current")
counts=$(python3 -c '
import json, sys
m = json.load(open(sys.argv[1] + "/manifest.json"))
c = m["counts"]
print(" ".join("%s=%s" % (k, c[k]) for k in sorted(c)))' "$version_dir")

# ---- (2) id lists for the request mix ----
lists=$data/lists
if [ ! -s "$lists/locations.txt" ]; then
    mkdir -p "$lists"
    in=$data/inputs
    # products, most popular first
    awk -F, 'NR > 1 { print $4, $1 }' "$in/truth_products.csv" | sort -n | cut -d' ' -f2 > "$lists/products.txt"
    # cookie, location, device of purchasers (CF list) and of the others
    awk -F, 'NR > 1 && $7 == 1 { print $1, $2, $3; if (++k == 100000) exit }' "$in/truth_cookies.csv" > "$lists/cookies_cf.txt"
    awk -F, 'NR > 1 && $7 == 0 { print $1, $2, $3; if (++k == 100000) exit }' "$in/truth_cookies.csv" > "$lists/cookies_plain.txt"
    awk -F, 'NR > 1 && !seen[$1]++ { print $1 }' "$in/truth_segments.csv" > "$lists/locations.txt"
fi
if [ ! -s "$lists/categories.txt" ]; then
    # categories, most products first (the catalog's second column)
    awk -F, 'NR > 1 { c[$2]++ } END { for (k in c) print c[k], k }' "$data/inputs/catalog.csv" | sort -k1,1nr -k2 |
        cut -d' ' -f2 > "$lists/categories.txt"
fi

printf '\n# edge benchmark: %s CPUs (%s), %s GiB RAM, %s\n' "$(nproc)" \
    "$(cpu_model)" \
    "$(awk '/MemTotal/ { printf "%.0f", $2 / 1048576 }' /proc/meminfo)" "$(uname -sr)"
printf 'cache: version %s, %s MiB data.mdb, counts %s\n' "$(basename "$version_dir")" \
    "$(($(stat -c %s "$version_dir/data.mdb") / 1048576))" "$counts"
printf 'inputs: recgen %s\n' "${gen_args[*]}"
printf 'load average at start: %s\n' "$(load)"

# ---- (3d, 4c) the overlay and request filters against the plain mix ----
# bench_route and wrk on the same requests: plain, with an overlay of
# 10,000 products, and with filters on every request; with BASE, also the
# plain mix against that build (the path before a change). Kinds alternate
# within each round, RUNS rounds; the best bench_route round of each kind
# and the median wrk req/s are compared.
filters_bench() {
    local base_bin=${BASE:-} kinds k r c port pid ovroot ovn=10000
    if [ -n "$base_bin" ]; then
        case "$base_bin" in /*) ;; *) base_bin=$root/$base_bin ;; esac
        for p in edge/recedge tests/bench_route; do
            [ -x "$base_bin/$p" ] || { printf 'edge.sh: BASE %s is not built\n' "$base_bin/$p" >&2; exit 1; }
        done
    fi
    kinds="plain overlay category exclude both"
    [ -n "$base_bin" ] && kinds="base $kinds"
    printf '\n## bench_route: plain mix, overlay of %s products, filters (load average %s)\n' "$ovn" "$(load)"
    printf 'command: [BENCH_OVERLAY=%s | BENCH_FILTER=category|exclude|both] taskset -c 0 bench_route VERSION_DIR LISTS 100000 5; base: BASE build, plain\n' "$ovn"
    : > "$scratch/route_kinds.txt"
    for r in $(seq 1 "$runs"); do
        for k in $kinds; do
            local envs=() exe=$bin/tests/bench_route
            case $k in
                base) exe=$base_bin/tests/bench_route ;;
                overlay) envs=(BENCH_OVERLAY=$ovn) ;;
                category|exclude|both) envs=(BENCH_FILTER=$k) ;;
            esac
            env "${envs[@]}" taskset -c 0 "$exe" "$version_dir" "$lists" 100000 5 2> /dev/null > "$scratch/route.$k.$r.txt" || {
                printf 'edge.sh: bench_route %s failed\n' "$k" >&2; exit 1; }
            printf '%s %s %s\n' "$k" "$r" "$(sed -n 's/^route+encode .* \([0-9][0-9]*\) ns\/request.*/\1/p' "$scratch/route.$k.$r.txt")" \
                >> "$scratch/route_kinds.txt"
        done
    done
    for k in $kinds; do
        printf '%-9s %s; route+encode ns/request by round:%s\n' "$k" \
            "$(grep '^# answers' "$scratch/route.$k.1.txt" | sed 's/^# answers: //')" \
            "$(awk -v k="$k" '$1 == k { printf " %s", $3 }' "$scratch/route_kinds.txt")"
    done
    awk '{ if (!($1 in best) || $3 < best[$1]) best[$1] = $3 }
         END {
             printf "best round, route+encode ns/request:"; for (k in best) printf " %s=%d", k, best[k]; printf "\n"
             for (k in best) if (k != "plain") printf "RATIO %s / plain = %.3f\n", k, best[k] / best["plain"]
             if ("base" in best) printf "  target %s: plain within 5 %% of base (ratio plain / base = %.3f)\n",
                 (best["plain"] <= 1.05 * best["base"]) ? "met   " : "MISSED", best["plain"] / best["base"]
         }' "$scratch/route_kinds.txt"

    # a second root holding the same version (hard links) with the overlay set
    ovroot=$scratch/ovroot
    mkdir -p "$ovroot/versions"
    cp -al "$version_dir" "$ovroot/versions/"
    cp "$data/cache/.edgerec-root" "$ovroot/"
    ln -s "versions/$(basename "$version_dir")" "$ovroot/current"
    shuf -n "$ovn" --random-source=<(yes) "$lists/products.txt" > "$scratch/overlay.txt"
    "$bin/edge/recctl" --root "$ovroot" overlay set --from "$scratch/overlay.txt" > /dev/null

    ulimit -n 20000 2> /dev/null || ulimit -n "$(ulimit -Hn)"
    declare -A port_of pid_of
    for k in plain overlay ${base_bin:+base}; do
        port=$(free_port)
        local exe=$bin/edge/recedge croot=$data/cache
        [ "$k" = base ] && exe=$base_bin/edge/recedge
        [ "$k" = overlay ] && croot=$ovroot
        taskset -c 0 "$exe" --root "$croot" --bind 127.0.0.1 --port "$port" --threads 1 \
            --max-connections 12000 --max-per-ip 0 --log-level warn > "$scratch/recedge.$k.log" 2>&1 &
        pid=$!
        pids+=("$pid")
        port_of[$k]=$port pid_of[$k]=$pid
        wait_http "http://127.0.0.1:$port/readyz"
    done
    for _ in $(seq 1 100); do
        curl -fs "http://127.0.0.1:${port_of[overlay]}/metrics" | grep -q '^recedge_overlay_products '"$ovn"'$' && break
        sleep 0.1
    done
    curl -fs "http://127.0.0.1:${port_of[overlay]}/metrics" | grep -q '^recedge_overlay_products '"$ovn"'$' || {
        printf 'edge.sh: the overlay recedge does not report %s suppressed products\n' "$ovn" >&2; exit 1; }
    c=${conns_list##* }
    printf '\n## wrk: plain mix, overlay of %s products, filters; %s connections, %s each, recedge --threads 1 on core 0\n' \
        "$ovn" "$c" "$duration"
    printf 'command: taskset -c 1 wrk -t1 -c%s -d%s --latency -s edge_mixed.lua URL -- LISTS 1 262144 FILTER\n' "$c" "$duration"
    printf '| run | kind | result | load average after |\n|---|---|---|---|\n'
    : > "$scratch/wrk_kinds.txt"
    local wk=(plain overlay category exclude both)
    [ -n "$base_bin" ] && wk=(base "${wk[@]}")
    for r in $(seq 1 "$runs"); do
        for k in "${wk[@]}"; do
            local server=plain filter=none
            case $k in
                base|overlay) server=$k ;;
                category|exclude|both) filter=$k ;;
            esac
            taskset -c 1 wrk -t1 -c"$c" -d"$duration" --latency -s "$lua" "http://127.0.0.1:${port_of[$server]}" \
                -- "$lists" 1 262144 "$filter" > "$scratch/wrk.k.txt"
            printf '| %s | %s | %s | %s |\n' "$r" "$k" "$(sed -n 's/^RESULT //p' "$scratch/wrk.k.txt")" "$(load)" |
                tee -a "$scratch/wrk_kinds.txt"
        done
    done
    awk '
        function num(key) { if (match($0, key "=[0-9]+")) return substr($0, RSTART + length(key) + 1, RLENGTH - length(key) - 1) + 0; return -1 }
        { split($0, f, "|"); k = f[3]; gsub(/ /, "", k); n[k]++; v[k, n[k]] = num("rps"); bad[k] += num("non2xx") + num("errors") }
        END {
            for (k in n) {
                for (i = 2; i <= n[k]; i++) for (j = i; j > 1 && v[k, j - 1] > v[k, j]; j--) { t = v[k, j]; v[k, j] = v[k, j - 1]; v[k, j - 1] = t }
                m[k] = n[k] % 2 ? v[k, (n[k] + 1) / 2] : (v[k, n[k] / 2] + v[k, n[k] / 2 + 1]) / 2
            }
            printf "median req/s:"; for (k in m) printf " %s=%d", k, m[k]; printf "; failed or non-2xx: "
            for (k in bad) printf " %s=%d", k, bad[k]; printf "\n"
            for (k in m) if (k != "plain") printf "RATIO %s / plain req/s = %.3f\n", k, m[k] / m["plain"]
            if ("base" in m) printf "  target %s: plain within 5 %% of base (req/s ratio %.3f)\n",
                (m["plain"] >= 0.95 * m["base"]) ? "met   " : "MISSED", m["plain"] / m["base"]
        }' "$scratch/wrk_kinds.txt"
    for k in plain overlay ${base_bin:+base}; do
        kill "${pid_of[$k]}" 2> /dev/null || true
        wait "${pid_of[$k]}" 2> /dev/null || true
    done
}
if [ "$only" = filters ]; then
    filters_bench
    printf 'load average at the end: %s\n' "$(load)"
    exit 0
fi

# ---- (3) in-process microbenchmark ----
printf '\n## bench_route (load average %s)\n' "$(load)"
printf 'command: taskset -c 0 bench_route VERSION_DIR LISTS 200000 9\n'
taskset -c 0 "$bin/tests/bench_route" "$version_dir" "$lists" 200000 9 2> /dev/null | tee "$scratch/bench_route.txt"
size=$(sed -n 's/^# answers: mean \([0-9]*\) bytes.*/\1/p' "$scratch/bench_route.txt")
printf 'load average after: %s\n' "$(load)"

# ---- (3b) the browsing route: two list kinds per product against one ----
printf '\n## bench_route, browsing route only: image + coview lists vs image lists alone (load average %s)\n' "$(load)"
for kinds in image+coview image; do
    printf 'command: BENCH_MIX=browse BENCH_LISTS=%s taskset -c 0 bench_route VERSION_DIR LISTS 200000 9\n' "$kinds"
    BENCH_MIX=browse BENCH_LISTS=$kinds taskset -c 0 "$bin/tests/bench_route" "$version_dir" "$lists" 200000 9 \
        2> /dev/null | grep -E '^(# bench_route|# answers|# lookups|route\+encode|re_route alone|bare mdb_get, the same|RATIO route\+encode / bare get \(same lookups\) =)'
done

# ---- (3c) display fields: fields= against the same requests without ----
printf '\n## bench_route, display fields against none, n 5 and 20 (load average %s)\n' "$(load)"
for n in 5 20; do
    for fields in "" title,image_url,price,url; do
        printf 'command: BENCH_N=%s BENCH_FIELDS=%s taskset -c 0 bench_route VERSION_DIR LISTS 100000 7\n' "$n" "$fields"
        BENCH_N=$n BENCH_FIELDS=$fields taskset -c 0 "$bin/tests/bench_route" "$version_dir" "$lists" 100000 7 \
            2> /dev/null | grep -E '^(# display|# answers|# lookups|route\+encode|re_route alone|bare mdb_get, the same|RATIO route\+encode / bare get \(same lookups\))'
    done
done

# ---- (4) servers ----
edge_port=$(free_port)
nginx_port=$(free_port)
redis_port=$(free_port)
ulimit -n 20000 2> /dev/null || ulimit -n "$(ulimit -Hn)"

# --max-per-ip 0: every connection of wrk comes from 127.0.0.1 (the
# default of 1000 would refuse 9,000 of the 10,000 in step 5).
taskset -c 0 "$bin/edge/recedge" --root "$data/cache" --bind 127.0.0.1 --port "$edge_port" --threads 1 \
    --max-connections 12000 --max-per-ip 0 --log-level warn > "$scratch/recedge.log" 2>&1 &
edge_pid=$!
pids+=("$edge_pid")

mkdir -p "$scratch/nginx/www" "$scratch/nginx/tmp"
chmod a+rx "$scratch" "$scratch/nginx" "$scratch/nginx/www" # nginx workers run as nobody
python3 -c 'import sys; n = int(sys.argv[1]); s = "{\"version\":\"static\",\"pad\":\""; print(s + "x" * (n - len(s) - 2) + "\"}", end="")' \
    "$size" > "$scratch/nginx/www/recs.json"
cat > "$scratch/nginx/nginx.conf" << EOF
worker_processes 1;
pid $scratch/nginx/nginx.pid;
error_log $scratch/nginx/error.log warn;
events { worker_connections 20000; }
http {
    access_log off;
    keepalive_timeout 60s;
    keepalive_requests 100000000;
    client_body_temp_path $scratch/nginx/tmp;
    proxy_temp_path $scratch/nginx/tmp;
    fastcgi_temp_path $scratch/nginx/tmp;
    uwsgi_temp_path $scratch/nginx/tmp;
    scgi_temp_path $scratch/nginx/tmp;
    server {
        listen 127.0.0.1:$nginx_port;
        root $scratch/nginx/www;
        location / {
            default_type application/json;
            add_header Access-Control-Allow-Origin "*";
            add_header Cache-Control "private, max-age=60";
            try_files /recs.json =404;
        }
    }
}
EOF
taskset -c 0 nginx -c "$scratch/nginx/nginx.conf" -p "$scratch/nginx" -g 'daemon off;' \
    > "$scratch/nginx/stdout.log" 2>&1 &
nginx_pid=$!
pids+=("$nginx_pid")

taskset -c 0 redis-server --bind 127.0.0.1 --port "$redis_port" --save '' --appendonly no \
    --dir "$scratch" --logfile "$scratch/redis.log" &
pids+=($!)

wait_http "http://127.0.0.1:$edge_port/readyz"
wait_http "http://127.0.0.1:$nginx_port/v1/recs" || { cat "$scratch/nginx/error.log" >&2; exit 1; }
for _ in $(seq 1 100); do
    redis-benchmark -p "$redis_port" -t ping -n 1 -q > /dev/null 2>&1 && break
    sleep 0.1
done
# 3M SETs over 1M keys leave about 95 % of the GETs below a hit.
taskset -c 1 redis-benchmark -p "$redis_port" -t set -d "$size" -n 3000000 -r 1000000 -P 64 -q > /dev/null

sample=$(head -n 1 "$lists/cookies_cf.txt")
printf 'sample answer (%s): %s bytes; nginx file %s bytes\n' "$sample" \
    "$(curl -fs "http://127.0.0.1:$edge_port/v1/recs?cookie=${sample%% *}" | wc -c)" \
    "$(stat -c %s "$scratch/nginx/www/recs.json")"

# CPU time (clock ticks, all threads) of a process so far
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

# recedge's histogram of its own time per /v1/recs request (from the
# request line to the answer handed to the kernel): "LE COUNT" lines,
# cumulative, in the order /metrics gives them.
own_hist() { # nothing when /metrics cannot be read: the round goes on without own_ fields
    curl -fs "$1/metrics" |
        sed -n 's/^recedge_request_duration_microseconds_bucket{endpoint="recs",le="\([^"]*\)"} \([0-9]*\)$/\1 \2/p' ||
        true
}
# own_pct BEFORE AFTER: the buckets that hold the 99th and 99.9th
# percentiles of the requests between the two snapshots.
own_pct() {
    awk 'NR == FNR { c0[FNR] = $2; next }
         { le[FNR] = $1; d[FNR] = $2 - c0[FNR]; n = FNR }
         END {
             if (!n || d[n] <= 0) exit # no request of /v1/recs in the round
             for (i = 1; i <= n; i++) {
                 if (p99 == "" && d[i] >= 0.99 * d[n]) p99 = le[i]
                 if (p999 == "" && d[i] >= 0.999 * d[n]) p999 = le[i]
             }
             printf " own_p99_us<=%s own_p999_us<=%s", p99, p999
         }' <(printf '%s\n' "$1") <(printf '%s\n' "$2")
}

wrk_run() { # name url server-pid conns
    local out=$scratch/wrk.$1.$4.txt t0 t1 secs res h0= h1
    [[ $1 != recedge* ]] || h0=$(own_hist "$2")
    t0=$(ticks "$3")
    # `times` in the subshell: the user and system time of wrk, its child
    (taskset -c 1 wrk -t1 -c"$4" -d"$duration" --latency -s "$lua" "$2" -- "$lists" > "$out"; times > "$out.times")
    t1=$(ticks "$3")
    secs=${duration%s}
    res=$(sed -n 's/^RESULT //p' "$out")
    h1=
    [ -z "$h0" ] || h1=$(own_hist "$2")
    [ -z "$h1" ] || res+=$(own_pct "$h0" "$h1")
    printf '| %s | %s | %s | %s | server_cpu=%.0f%% client_cpu=%.0f%% | %s |\n' "$r" "$4" "$1" "$res" \
        "$(awk -v a="$t0" -v b="$t1" -v hz="$hz" -v s="$secs" 'BEGIN { print 100 * (b - a) / hz / s }')" \
        "$(awk -v s="$secs" 'NR == 2 { for (i = 1; i <= 2; i++) { split($i, t, /[ms]/); c += t[1] * 60 + t[2] } }
                              END { print 100 * c / s }' "$out.times")" \
        "$(load)" | tee -a "$scratch/results.txt"
}
redis_run() {
    local res
    res=$(taskset -c 1 redis-benchmark -p "$redis_port" -t get -d "$size" -c 64 -n 500000 -P 1 -r 1000000 --csv |
        awk -F'"' 'NR == 2 { printf "rps=%.0f avg_ms=%s p50_ms=%s p99_ms=%s max_ms=%s", $4, $6, $10, $14, $16 }')
    printf '| redis | %s | %s |\n' "$res" "$(load)" | tee -a "$scratch/results.txt"
}

printf '\n## warm-up (5 s each, not reported)\n'
taskset -c 1 wrk -t1 -c64 -d5s -s "$lua" "http://127.0.0.1:$edge_port" -- "$lists" > /dev/null
taskset -c 1 wrk -t1 -c64 -d5s -s "$lua" "http://127.0.0.1:$nginx_port" -- "$lists" > /dev/null

nginx_worker=$(pgrep -P "$nginx_pid" | head -n 1)
printf '\n## throughput and latency: wrk -t1 -cCONNS -d%s --latency -s edge_mixed.lua (core 1), servers on core 0\n' \
    "$duration"
printf '(server_cpu: the server process, all threads; client_cpu: wrk; percent of one core over the run;\n'
printf ' own_p99_us, own_p999_us: recedge'"'"'s own time per request, request line to kernel, its histogram'"'"'s bucket)\n'
printf '| run | conns | server | result | cpu | load average after |\n|---|---|---|---|---|---|\n'
for r in $(seq 1 "$runs"); do
    for c in $conns_list; do
        if [ $((r % 2)) -eq 1 ]; then
            wrk_run recedge "http://127.0.0.1:$edge_port" "$edge_pid" "$c"
            wrk_run nginx "http://127.0.0.1:$nginx_port" "$nginx_worker" "$c"
        else
            wrk_run nginx "http://127.0.0.1:$nginx_port" "$nginx_worker" "$c"
            wrk_run recedge "http://127.0.0.1:$edge_port" "$edge_pid" "$c"
        fi
    done
    redis_run
done
printf '\nrecedge wrk output of the last run, %s connections:\n' "${conns_list##* }"
sed 's/^/    /' "$scratch/wrk.recedge.${conns_list##* }.txt"

printf '\n## per connection count: recedge / nginx req/s and p99, median over the runs\n'
awk '
    function num(key,   v) { if (match($0, key "=[0-9]+")) return substr($0, RSTART + length(key) + 1, RLENGTH - length(key) - 1) + 0; return -1 }
    function median(a, n,   i, j, t) {
        for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
        return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    /^\| [0-9]+ \| [0-9]+ \| (recedge|nginx) / {
        split($0, f, "|"); c = f[3] + 0; s = f[4]; gsub(/ /, "", s); r = f[2] + 0
        rps[s, c, r] = num("rps"); p99[s, c, r] = num("p99_us"); runs[r] = 1; conns[c] = 1
    }
    END {
        nc = split(order, cs, " ")
        for (k = 1; k <= nc; k++) {
            c = cs[k] + 0; n = 0
            for (r in runs) {
                ke = "recedge" SUBSEP c SUBSEP r; kn = "nginx" SUBSEP c SUBSEP r
                if ((ke in rps) && (kn in rps)) {
                    n++; ratio[n] = rps["recedge", c, r] / rps["nginx", c, r]
                    ep[n] = p99["recedge", c, r]; np[n] = p99["nginx", c, r]
                    ratios[c] = ratios[c] sprintf(" %.2f", ratio[n]); eps[c] = eps[c] " " ep[n]; nps[c] = nps[c] " " np[n]
                }
            }
            if (!n) continue
            mr = median(ratio, n); me = median(ep, n); mn = median(np, n)
            printf "%s connections: recedge/nginx req/s%s (median %.2f); p99 us recedge%s (median %d), nginx%s (median %d)\n", c, ratios[c], mr, eps[c], me, nps[c], mn
            printf "  target %s: recedge >= 0.8 x nginx req/s (median)\n", (mr >= 0.8) ? "met   " : "MISSED"
            printf "  target %s: recedge p99 < 1 ms (median)\n", (me < 1000) ? "met   " : "MISSED"
        }
    }' order="$conns_list" "$scratch/results.txt"

# ---- (4b) the exposure log: every answer logged against none ----
# A second recedge like the first with --exposure-log at the default sample
# of 1 (every answer a line); wrk at the largest connection count against
# each in turn, alternating which goes first, RUNS times.
log_port=$(free_port)
mkdir -p "$scratch/explog"
taskset -c 0 "$bin/edge/recedge" --root "$data/cache" --bind 127.0.0.1 --port "$log_port" --threads 1 \
    --max-connections 12000 --max-per-ip 0 --log-level warn --exposure-log "$scratch/explog" \
    > "$scratch/recedge-log.log" 2>&1 &
log_pid=$!
pids+=("$log_pid")
wait_http "http://127.0.0.1:$log_port/readyz"
c=${conns_list##* }
printf '\n## exposure log: recedge --exposure-log DIR (every answer logged) against recedge without, %s connections\n' "$c"
printf '| run | conns | server | result | cpu | load average after |\n|---|---|---|---|---|---|\n'
: > "$scratch/results_log.txt"
for r in $(seq 1 "$runs"); do
    for which in $( [ $((r % 2)) -eq 1 ] && echo "off on" || echo "on off"); do
        if [ "$which" = on ]; then
            wrk_run recedge+log "http://127.0.0.1:$log_port" "$log_pid" "$c" | tee -a "$scratch/results_log.txt" > /dev/null
        else
            wrk_run recedge "http://127.0.0.1:$edge_port" "$edge_pid" "$c" | tee -a "$scratch/results_log.txt" > /dev/null
        fi
        tail -n 1 "$scratch/results_log.txt"
    done
done
lines=$(cat "$scratch"/explog/*.jsonl* 2> /dev/null | wc -l)
printf 'log lines written: %s; %s\n' "$lines" \
    "$(curl -fs "http://127.0.0.1:$log_port/metrics" | grep -E '^edgerec_log_(records|dropped)' | tr '\n' ' ')"
awk '
    function num(key) { if (match($0, key "=[0-9]+")) return substr($0, RSTART + length(key) + 1, RLENGTH - length(key) - 1) + 0; return -1 }
    /^\| [0-9]+ \| [0-9]+ \| recedge/ { split($0, f, "|"); s = f[4]; gsub(/ /, "", s); r = f[2] + 0; rps[s, r] = num("rps"); runs[r] = 1 }
    END {
        n = 0
        for (r in runs) if ((("recedge+log", r) in rps) && (("recedge", r) in rps)) { n++; x[n] = rps["recedge+log", r] / rps["recedge", r]; t = t sprintf(" %.3f", x[n]) }
        for (i = 2; i <= n; i++) for (j = i; j > 1 && x[j - 1] > x[j]; j--) { y = x[j]; x[j] = x[j - 1]; x[j - 1] = y }
        m = n % 2 ? x[(n + 1) / 2] : (x[n / 2] + x[n / 2 + 1]) / 2
        printf "log on / log off req/s:%s (median %.3f)\n  target %s: >= 0.9 x logging off (median)\n", t, m, (m >= 0.9) ? "met   " : "MISSED"
    }' "$scratch/results_log.txt"
kill "$log_pid"
wait "$log_pid" 2> /dev/null || true
printf 'closed log files after SIGTERM: %s, %s lines\n' "$(ls "$scratch"/explog/*.jsonl 2> /dev/null | wc -l)" \
    "$(cat "$scratch"/explog/*.jsonl 2> /dev/null | wc -l)"
rm -rf "$scratch/explog"

# ---- (5) memory with 10,000 connections ----
rss() { # "VmRSS RssAnon RssFile" in kB
    awk '/^VmRSS|^RssAnon|^RssFile/ { v[$1] = $2 } END { print v["VmRSS:"], v["RssAnon:"], v["RssFile:"] }' \
        "/proc/$edge_pid/status"
}
heap() { awk '/\[heap\]/ { h = 1; next } h && /^Rss:/ { print $2; exit }' "/proc/$edge_pid/smaps"; }
printf '\n## memory: wrk -t1 -c10000 -d15s (ulimit -n 20000) against recedge --max-connections 12000 --max-per-ip 0\n'
printf 'before: VmRSS RssAnon RssFile (kB) = %s, main-arena [heap] %s kB, load average %s\n' "$(rss)" "$(heap)" "$(load)"
(
    ulimit -n 20000
    taskset -c 1 wrk -t1 -c10000 -d15s --timeout 10s -s "$lua" "http://127.0.0.1:$edge_port" -- "$lists" \
        > "$scratch/wrk.10k.txt" 2>&1
) &
wrk10k=$!
pids+=("$wrk10k")
max_anon=0
for _ in $(seq 1 14); do
    sleep 1
    read -r vm anon file <<< "$(rss)"
    conns=$(($(ls "/proc/$edge_pid/fd" | wc -l)))
    printf '  t+%2ss: VmRSS %s kB, RssAnon %s kB, RssFile %s kB, open fds %s\n' "$SECONDS" "$vm" "$anon" "$file" "$conns"
    if [ "$anon" -gt "$max_anon" ]; then
        max_anon=$anon
        peak_heap=$(heap)
        rollup=$(grep -E '^(Rss|Anonymous|Pss_Anon|Pss_File):' "/proc/$edge_pid/smaps_rollup" | tr -s ' ' | tr '\n' ' ')
    fi
done
wait "$wrk10k" || true
printf 'smaps_rollup at the peak: %s\n' "$rollup"
printf 'wrk with 10k connections: %s\n' "$(sed -n 's/^RESULT //p' "$scratch/wrk.10k.txt")"
grep -i 'socket errors' "$scratch/wrk.10k.txt" || true
printf 'peak RssAnon (memory beyond the mapped cache) %s kB = %.1f MiB, main-arena [heap] %s kB\n' "$max_anon" \
    "$(awk -v k="$max_anon" 'BEGIN { print k / 1024 }')" "${peak_heap:-?}"
if [ "$max_anon" -lt 131072 ]; then
    printf 'target met:    memory beyond the mapped cache < 128 MiB\n'
else
    printf 'target MISSED: memory beyond the mapped cache < 128 MiB\n'
fi
printf 'load average at the end: %s\n' "$(load)"

# ---- (6) idle and half-sent connections ----
# A fresh recedge each time (default flags but --max-per-ip 0), 10,000
# connections held by ops/bench/edge_conns.py: after one browser request
# each (kept alive, idle), then each holding half a request's headers.
for mode in idle half; do
    conns_port=$(free_port)
    taskset -c 0 "$bin/edge/recedge" --root "$data/cache" --bind 127.0.0.1 --port "$conns_port" --threads 1 \
        --max-connections 12000 --max-per-ip 0 --log-level error > /dev/null 2>&1 &
    conns_pid=$!
    pids+=("$conns_pid")
    for _ in $(seq 1 600); do # until the version is checked and loaded (answers 200, not 503)
        curl -fs -o /dev/null "http://127.0.0.1:$conns_port/readyz" && break
        sleep 0.1
    done
    (
        ulimit -n 20000
        taskset -c 1 python3 "$root/ops/bench/edge_conns.py" "$conns_port" "$conns_pid" 10000 "$mode"
    )
    kill "$conns_pid"
    wait "$conns_pid" 2> /dev/null || true
done
