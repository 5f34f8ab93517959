# ops/bench/common.sh - sourced by the benchmark scripts of ops/bench/.
#
# Sets $root (the repository) and $bin (BIN, default build/; a relative
# BIN is taken from the repository root). Provides:
#   cpu_model            the first "model name" of /proc/cpuinfo
#   bench_inputs DIR ARGS...
#                        recgen --out DIR ARGS..., unless DIR already holds
#                        a complete set made with the same ARGS (reused, as
#                        bench.stamp in DIR records); says which on stdout
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bin=${BIN:-$root/build}
case "$bin" in /*) ;; *) bin=$root/$bin ;; esac

cpu_model() { sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1; }

bench_inputs() {
    local data=$1 stamp t0
    shift
    stamp="recgen $*"
    if [ -f "$data/recgen.json" ] && [ "$(cat "$data/bench.stamp" 2> /dev/null)" = "$stamp" ]; then
        printf 'inputs: reusing %s\n' "$data"
        return 0
    fi
    rm -rf "$data"
    t0=$(date +%s)
    "$bin/builder/recgen" --out "$data" "$@" --log-level warn
    printf '%s\n' "$stamp" > "$data/bench.stamp"
    printf 'inputs: %s written in %ss (%s MiB)\n' "$data" "$(($(date +%s) - t0))" "$(du -sm "$data" | cut -f1)"
}
