#!/usr/bin/env bash
# ops/bench/edge_callgrind.sh - instruction counts per request of the
# /v1/recs hot path against bare mdb_get of the same keys: bench_route
# (tests/bench_route.c) under valgrind's callgrind. Unlike nanoseconds,
# instruction counts do not move with the machine's load, so they compare
# two builds on a shared machine. Results are recorded in ops/bench/edge.md.
#
#   ops/bench/edge_callgrind.sh VERSION_DIR LISTS_DIR [REQUESTS]
#   BIN=build-other ops/bench/edge_callgrind.sh ...   another build folder
#
# VERSION_DIR and LISTS_DIR as for bench_route (ops/bench/edge.sh prepares
# both, under DATA: cache/versions/<id> and lists/). REQUESTS defaults to
# 20000, one round. Each kind of bench_route is one noinline function
# (kind_route, kind_ronly, kind_get_all, ...): its inclusive instruction
# count divided by the requests is the figure printed.
set -euo pipefail
export LC_ALL=C

# shellcheck source=ops/bench/common.sh
source "$(dirname "$0")/common.sh"
case "${1:-}" in
    -h|--help) sed -n '2,15s/^# \{0,1\}//p' "$0"; exit 0 ;;
    '') sed -n '2,15s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
esac
version_dir=$1
lists=${2:?LISTS_DIR missing (see --help)}
requests=${3:-20000}
for t in valgrind callgrind_annotate; do
    command -v "$t" > /dev/null || { printf 'edge_callgrind.sh: %s is missing\n' "$t" >&2; exit 1; }
done
[ -x "$bin/tests/bench_route" ] || { printf 'edge_callgrind.sh: %s/tests/bench_route is not built\n' "$bin" >&2; exit 1; }

out=$(mktemp -d "${TMPDIR:-/tmp}/edge-callgrind.XXXXXX")
trap 'rm -rf "$out"' EXIT
valgrind --tool=callgrind --callgrind-out-file="$out/cg.out" \
    "$bin/tests/bench_route" "$version_dir" "$lists" "$requests" 1 > "$out/bench.txt" 2> "$out/valgrind.txt"
grep '^# \(answers\|lookups\)' "$out/bench.txt"
callgrind_annotate --inclusive=yes --threshold=100 "$out/cg.out" 2> /dev/null |
    awk -v n="$requests" '
        /:kind_[a-z_]+ / {
            v = $1; gsub(",", "", v); name = $0; sub(/.*:kind_/, "", name); sub(/ .*/, "", name); ir[name] = v / n
        }
        END {
            printf "instructions per request (callgrind, %d requests):\n", n
            ir["parse"] /= 2 # parsed before kind_route and again before kind_ronly
            split("route ronly get_all get_one txn parse", k, " ")
            split("route+encode|re_route alone|bare mdb_get, same lookups|bare mdb_get, one lookup|txn renew + reset|re_query_parse", label, "|")
            for (i = 1; i <= 6; i++)
                printf "  %-28s %8.0f\n", label[i], ir[k[i]]
            printf "  %-28s %8.0f\n", "encode (route+encode - route)", ir["route"] - ir["ronly"]
            printf "RATIO route+encode / bare get (same lookups) = %.2f  (target <= 1.5)\n", ir["route"] / ir["get_all"]
            printf "RATIO re_route alone / bare get (same lookups) = %.2f\n", ir["ronly"] / ir["get_all"]
        }'
