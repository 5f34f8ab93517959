#!/usr/bin/env bash
# ops/fuzz.sh - build the libFuzzer harnesses of tests/fuzz and run each one
# for a while; exits non-zero on any finding.
#
#   ops/fuzz.sh SECONDS [NAME...]   run every harness (or the NAMEs, e.g.
#                                   fuzz_query) for SECONDS each
#   ops/fuzz.sh --list              the harnesses
#
# Build: build-fuzz/ (CMake with EDGEREC_FUZZ=ON and clang-14: the CPU path
# and the harnesses with ASan + UBSan, -fno-sanitize-recover=all, so any
# sanitizer report or failed harness check ends the run as a crash).
#
# Corpus: each harness starts from its committed seeds,
# tests/fuzz/corpus/<NAME>/ (never written), and from what earlier runs in
# this build folder found, build-fuzz/corpus/<NAME>/ (kept between runs).
#
# Findings: libFuzzer saves the input that crashed, leaked, ran over 120 s
# (generous: a loaded machine stalled single inputs for up to 48 s) or over
# 2 GiB as build-fuzz/findings/<NAME>-<kind>-<sha1>; the whole report is in
# build-fuzz/logs/<NAME>.log. Reproduce with
#   build-fuzz/tests/fuzz/<NAME> build-fuzz/findings/<NAME>-crash-<sha1>
# Every harness runs even after another found something; the summary names
# each finding.
#
# Exit: 0 no finding; 1 a finding, or a harness that did not run; 2 usage or
# build failure; 77 clang with libFuzzer is not installed (ops/setup.sh
# installs it), with a message saying what is missing.
#
#   EDGEREC_FUZZ_DIR=DIR   build folder (default build-fuzz/ in the tree)
#   EDGEREC_FUZZ_JOBS=N    harnesses run at once (default: nproc)
#   EDGEREC_FUZZ_CC=CC     the clang to use (default clang-14, else clang)
#
# ASan runs with a 16 MiB quarantine (default 256) and clears large shadow
# regions with memset rather than mmap (clear_shadow_mmap_threshold): the
# ingest harnesses allocate large arrays per input (the first events array
# is 1.5 MiB; the reader's buffer was 4 MiB until it was sized to the file,
# ops/bench/fuzz.md), and with ASan's defaults mapping, unmapping and
# poisoning them took most of their time (perf). Every check stays: freed
# memory is still caught while less than 16 MiB was freed after it.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dir=${EDGEREC_FUZZ_DIR:-$root/build-fuzz}
jobs=${EDGEREC_FUZZ_JOBS:-$(nproc)}
all=(fuzz_query fuzz_beacon fuzz_json fuzz_experiment fuzz_overlay fuzz_record fuzz_catset fuzz_manifest fuzz_events fuzz_clicks fuzz_catalog fuzz_npy fuzz_params fuzz_rules)
timeout_s=120

say() { printf 'fuzz: %s\n' "$*"; }
usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'; }

case ${1:-} in
    -h|--help) usage; exit 0 ;;
    --list) printf '%s\n' "${all[@]}"; exit 0 ;;
esac
seconds=${1:-}
if ! [[ $seconds =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
    usage >&2
    exit 2
fi
shift
names=("$@")
[ ${#names[@]} -gt 0 ] || names=("${all[@]}")
for n in "${names[@]}"; do
    [[ " ${all[*]} " == *" $n "* ]] || { say "unknown harness '$n' (ops/fuzz.sh --list)"; exit 2; }
done
if ! [[ $jobs =~ ^[0-9]+$ ]] || [ "$jobs" -lt 1 ]; then
    say "EDGEREC_FUZZ_JOBS must be a whole number >= 1"
    exit 2
fi

# ---- clang with libFuzzer ----
cc=${EDGEREC_FUZZ_CC:-}
if [ -z "$cc" ]; then
    cc=clang-14
    command -v "$cc" > /dev/null || cc=clang
fi
if ! command -v "$cc" > /dev/null; then
    say "skipped: no clang-14 or clang in PATH (Debian: apt-get install clang-14 libclang-rt-14-dev; ops/setup.sh does)"
    exit 77
fi
cxx=${cc/clang/clang++}
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { return 0; }\n' \
    > "$probe/probe.c"
if ! "$cc" -fsanitize=fuzzer,address,undefined "$probe/probe.c" -o "$probe/probe" 2> "$probe/err"; then
    say "skipped: $cc cannot link -fsanitize=fuzzer,address,undefined (Debian: libclang-rt-14-dev; ops/setup.sh installs it):"
    sed 's/^/fuzz:   /' "$probe/err" | head -n 5
    exit 77
fi
# LeakSanitizer needs ptrace-like access; where it cannot run (some
# containers) it would fail every harness at exit, so leaks are checked only
# where a deliberate leak is reported.
printf '#include <stdlib.h>\nint main(void) { void *p = malloc(7); p = 0; return p != 0; }\n' > "$probe/leak.c"
leaks=0
if "$cc" -fsanitize=address "$probe/leak.c" -o "$probe/leak" 2> /dev/null &&
    { ASAN_OPTIONS=detect_leaks=1 "$probe/leak" 2>&1 || true; } | grep -q 'LeakSanitizer: detected memory leaks'; then
    leaks=1
else
    say "LeakSanitizer does not work here (ptrace restricted?); leak checks off"
fi
symbolizer=$("$cc" -print-prog-name=llvm-symbolizer 2> /dev/null || true)
[ -x "$symbolizer" ] || symbolizer=$(command -v llvm-symbolizer-14 || command -v llvm-symbolizer || true)

# ---- build ----
t0=$(date +%s)
CC=$cc CXX=$cxx cmake -S "$root" -B "$dir" -DEDGEREC_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo > "$probe/cmake.log" 2>&1 ||
    { cat "$probe/cmake.log" >&2; say "cmake failed"; exit 2; }
cmake --build "$dir" --target "${names[@]}" -j "$(nproc)" > "$probe/build.log" 2>&1 ||
    { tail -n 40 "$probe/build.log" >&2; say "build failed"; exit 2; }
say "built ${#names[@]} harnesses with $cc in $dir ($(( $(date +%s) - t0 ))s)"

# ---- run ----
mkdir -p "$dir/findings" "$dir/logs"
export ASAN_OPTIONS="detect_leaks=$leaks:quarantine_size_mb=16:clear_shadow_mmap_threshold=1000000000:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1"
export UBSAN_OPTIONS="print_stacktrace=1"
[ -z "$symbolizer" ] || export ASAN_SYMBOLIZER_PATH=$symbolizer

run_one() { # run_one NAME - its result line in $dir/logs/NAME.result
    local n=$1 rc=0 corpus=$dir/corpus/$1
    mkdir -p "$corpus"
    rm -f "$dir/logs/$n.result"
    # The wall-clock limit is a backstop: libFuzzer stops itself after
    # -max_total_time and reports a slow input as a timeout finding.
    timeout -k 10 $((seconds + 2 * timeout_s + 60)) "$dir/tests/fuzz/$n" -max_total_time="$seconds" \
        -timeout="$timeout_s" -rss_limit_mb=2048 -detect_leaks="$leaks" -print_final_stats=1 \
        -artifact_prefix="$dir/findings/$n-" "$corpus" "$root/tests/fuzz/corpus/$n" > "$dir/logs/$n.log" 2>&1 || rc=$?
    local runs
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/logs/$n.log" | tail -n 1)
    printf '%s %s %s\n' "$rc" "${runs:-?}" "$(find "$corpus" -type f | wc -l)" > "$dir/logs/$n.result"
}

say "running ${names[*]} for ${seconds}s each, $jobs at a time (logs in $dir/logs/)"
touch "$probe/start" # findings newer than this are this run's
running=0
for n in "${names[@]}"; do
    run_one "$n" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
        wait -n || true
        running=$((running - 1))
    fi
done
wait || true

failed=0
printf 'fuzz: %-14s %-8s %10s %7s\n' HARNESS RESULT RUNS CORPUS
for n in "${names[@]}"; do
    read -r rc runs corpus < "$dir/logs/$n.result" 2> /dev/null || { rc=-1 runs='?' corpus='?'; }
    result=ok
    if [ "$rc" != 0 ]; then
        result=FINDING
        failed=1
    fi
    printf 'fuzz: %-14s %-8s %10s %7s\n' "$n" "$result" "$runs" "$corpus"
done
if [ $failed -ne 0 ]; then
    for n in "${names[@]}"; do
        read -r rc _ < "$dir/logs/$n.result" 2> /dev/null || rc=-1
        [ "$rc" != 0 ] || continue
        echo
        say "$n exited $rc; the end of $dir/logs/$n.log:"
        tail -n 40 "$dir/logs/$n.log" | sed 's/^/  /'
        find "$dir/findings" -name "$n-*" -newer "$probe/start" | while read -r f; do
            say "reproducer: $f"
            say "  run it:    $dir/tests/fuzz/$n $f"
        done
    done
    exit 1
fi
say "no findings"
