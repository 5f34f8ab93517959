#!/usr/bin/env bash
# tests/e2e/rebuild.sh - the hourly job (ops/rebuild.sh):
#   - run twice back to back it produces and publishes two versions;
#   - a run that fails a sanity gate (counts collapse, a metric drops, the
#     version does not verify) or whose build fails publishes nothing, moves
#     the version to rejected/ and exits with the documented code;
#   - a second run while one holds the lock is refused (exit 3);
#   - no logs in the window: exit 4.
# Part 1 drives the job with a stand-in builder on mkcache (tests/mkcache.c),
# so the job's own logic is tested whatever state the models are in; part 2
# runs the real recbuild on recgen data when both are built.
#
# Environment (tests/CMakeLists.txt): BIN, SRC, EDGEREC_TEST_TMP.
# Exits 77 (skipped) while recctl or mkcache is not built.
set -euo pipefail
source "$(dirname "$0")/ops_common.bash"
recbuild=$BIN/builder/recbuild
recgen=$BIN/builder/recgen
job=$SRC/ops/rebuild.sh
holder=
stop_holder() {
    if [ -n "$holder" ]; then
        kill "$holder" 2>/dev/null || true
        wait "$holder" 2>/dev/null || true
    fi
}
cleanup_extra=stop_holder

# run_job EXPECTED_EXIT ARGS... - run the job, keep its log, check the exit
run_job() {
    local want=$1 rc=0
    shift
    "$job" "$@" > "$tmp/job.out" 2> "$tmp/job.log" || rc=$?
    if [ "$rc" -ne "$want" ]; then
        cat "$tmp/job.log" >&2
        fail "ops/rebuild.sh $* exited $rc, expected $want"
    fi
}

nversions() { find "$1/versions" -mindepth 1 -maxdepth 1 -type d | wc -l; }

# ---- part 1: the job's logic, with a stand-in builder ----
fake=$tmp/fake-recbuild
cat > "$fake" <<EOF
#!/usr/bin/env bash
# Takes recbuild's flags; writes a fixture version with mkcache.
set -euo pipefail
root= flip=1
while [ \$# -gt 0 ]; do
    case \$1 in
        --out) root=\$2; shift 2 ;;
        --no-flip) flip=0; shift ;;
        *) shift ;;
    esac
done
sleep "\${FAKE_SLEEP:-0}"
[ -z "\${FAKE_FAIL:-}" ] || { echo "fake recbuild: failing on purpose" >&2; exit 1; }
args=(--root "\$root" --shift "\${FAKE_SHIFT:-0}" --cookies "\${FAKE_COOKIES:-20}" --hr "\${FAKE_HR:-0.3}")
[ -z "\${FAKE_BAD:-}" ] || args+=(--bad-record)
[ \$flip -eq 0 ] || args+=(--flip)
exec "$mkcache" "\${args[@]}"   # prints the version id, as recbuild does
EOF
chmod +x "$fake"

root=$tmp/root
mkdir -p "$tmp/logs"
printf 'ts,cookie,event,product\n1,u1,view,p1\n' > "$tmp/logs/events-1.csv"
printf 'ts,cookie,event,product\n2,u2,view,p2\n' > "$tmp/logs/events-2.csv"
common=(--root "$root" --logs "$tmp/logs/events-*.csv" --window 2h --recbuild "$fake" --recctl "$recctl" --keep 10)

# Two runs back to back: two versions, each published in turn.
run_job 0 "${common[@]}"
v1=$("$recctl" current --root "$root")
grep -q "event=rebuild.published version=$v1" "$tmp/job.log" || fail "no published line for $v1"
FAKE_SHIFT=1 run_job 0 "${common[@]}"
v2=$("$recctl" current --root "$root")
[ "$v1" != "$v2" ] || fail "the second run did not publish a new version"
[ "$(nversions "$root")" -eq 2 ] || fail "expected 2 versions, found $(nversions "$root")"
grep -q "event=rebuild.gate_counts_ok" "$tmp/job.log" || fail "second run did not run the count gate"
echo "rebuild: two runs published $v1 then $v2"

# check_rejected CODE EVENT - the last run exited CODE: current is still
# $v2, versions/ unchanged, the version sits in rejected/ with a reason.
check_rejected() {
    local code=$1 event=$2
    [ "$("$recctl" current --root "$root")" = "$v2" ] || fail "current moved after a failed run (exit $code)"
    [ "$(nversions "$root")" -eq 2 ] || fail "a rejected version was left under versions/ (exit $code)"
    grep -q "level=error event=rebuild.$event .*exit=$code" "$tmp/job.log" || {
        cat "$tmp/job.log" >&2
        fail "no '$event' error line with exit=$code"
    }
}

FAKE_COOKIES=2 run_job 7 "${common[@]}"
check_rejected 7 gate_counts
ls "$root"/rejected/*.reason > /dev/null || fail "no reason file in rejected/"
FAKE_HR=0.1 run_job 8 "${common[@]}"
check_rejected 8 gate_metric
FAKE_BAD=1 run_job 6 "${common[@]}"
check_rejected 6 verify_failed
FAKE_FAIL=1 run_job 5 "${common[@]}"
check_rejected 5 build_failed
FAKE_HR=0.1 run_job 0 "${common[@]}" --skip-gates
grep -q "event=rebuild.gates_skipped" "$tmp/job.log" || fail "--skip-gates was not logged"
v3=$("$recctl" current --root "$root")
[ "$v3" != "$v2" ] || fail "--skip-gates did not publish"
"$recctl" rollback --root "$root" > /dev/null
nrejected=$(find "$root/rejected" -mindepth 1 -maxdepth 1 -type d | wc -l)
[ "$nrejected" -eq 3 ] || fail "expected 3 rejected versions (the failed build left none), found $nrejected"
echo "rebuild: gates refused counts, metric, verify and build failures with exits 7, 8, 6, 5"

# The lock: a run while another holds it is refused at once.
# The holder execs into sleep, so killing $holder releases the lock.
( exec 8>> "$root/.rebuild.lock"; flock 8; exec sleep 60 ) &
holder=$!
for _ in $(seq 50); do
    flock -n "$root/.rebuild.lock" true 2>/dev/null || break
    sleep 0.1
done
run_job 3 "${common[@]}"
grep -q "event=rebuild.locked" "$tmp/job.log" || fail "no locked line"
kill "$holder"
wait "$holder" 2>/dev/null || true
holder=
# ... and two real runs started together: exactly one builds.
FAKE_SLEEP=2 "$job" "${common[@]}" 2> "$tmp/first.log" &
first=$!
for _ in $(seq 50); do
    [ -s "$root/.rebuild.lock.pid" ] && break
    sleep 0.1
done
run_job 3 "${common[@]}"
wait "$first" || fail "the first of two concurrent runs failed: $(cat "$tmp/first.log")"
echo "rebuild: a second concurrent run was refused (exit 3)"

# No log file within the window.
touch -d '3 days ago' "$tmp/logs"/*.csv
run_job 4 "${common[@]}"
grep -q "event=rebuild.no_input" "$tmp/job.log" || fail "no no_input line"
run_job 2 "${common[@]}" --window 1.5h

# ---- part 2: the real recbuild on recgen data ----
if [ ! -x "$recbuild" ] || [ ! -x "$recgen" ]; then
    echo "rebuild: recbuild or recgen not built; the real-builder part is skipped"
    exit 0
fi
data=$tmp/data
"$recgen" --out "$data" --seed 7 --events 20000 --cookies 400 --products 300 --dim 8 > /dev/null 2>&1 \
    || fail "recgen failed"
root=$tmp/real
# recgen's events span 14 days: a 30-day window holds them all, so the holdout
# that the quality gate (exit 10) judges has every purchasing cookie (33),
# not the 4 of the last day, on which CF loses to most-popular.
real=(--root "$root" --logs "$data/events.csv" --window 30d --catalog "$data/catalog.csv"
      --embeddings "$data/emb.npy" --bin "$BIN/builder" --recctl "$recctl"
      --recbuild-flags "--holdout 1 --threads 2 --factors 8 --iterations 3")
run_job 0 "${real[@]}"
r1=$("$recctl" current --root "$root")
run_job 0 "${real[@]}"
r2=$("$recctl" current --root "$root")
[ "$r1" != "$r2" ] || fail "two real runs did not publish two versions"
"$recctl" verify --root "$root" "$r1" > /dev/null || fail "$r1 does not verify"
"$recctl" verify --root "$root" "$r2" > /dev/null || fail "$r2 does not verify"
# A gate no build can pass (each DB must double): nothing is published.
run_job 7 "${real[@]}" --min-count-pct 200
[ "$("$recctl" current --root "$root")" = "$r2" ] || fail "a failed real run moved current"
[ "$(nversions "$root")" -eq 2 ] || fail "a failed real run left a version under versions/"
# EDGEREC_EXPERIMENTS (schemas/experiments.md): the next version carries the
# file; a bad one fails the build (exit 5) and publishes nothing.
cat > "$tmp/exp.json" << 'EOF'
{"id": "e1", "salt": "s1", "arms": [{"name": "control", "buckets": [0, 5000]},
 {"name": "holdout", "buckets": [9800, 10000], "holdout": true}]}
EOF
EDGEREC_EXPERIMENTS=$tmp/exp.json run_job 0 "${real[@]}"
r3=$("$recctl" current --root "$root")
cmp -s "$tmp/exp.json" "$root/versions/$r3/experiments.json" || fail "$r3 does not carry experiments.json"
grep -q '"name": "experiments.json"' "$root/versions/$r3/manifest.json" || fail "$r3's manifest does not list it"
sed 's/"holdout": true/"holdout": true, "tiers": ["cf"]/' "$tmp/exp.json" > "$tmp/bad.json"
EDGEREC_EXPERIMENTS=$tmp/bad.json run_job 5 "${real[@]}"
grep -q "holdout and tiers together" "$tmp/job.log" || fail "the bad experiment's fault is not in the job's log"
[ "$("$recctl" current --root "$root")" = "$r3" ] || fail "a bad experiment moved current"
echo "rebuild: real recbuild published $r1 and $r2; a failing gate published nothing; EDGEREC_EXPERIMENTS carried"
