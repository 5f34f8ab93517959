#!/usr/bin/env bash
# tests/e2e/slurm.sh - the hourly job's build on a real Slurm cluster of one
# host (ops/rebuild.sh --scheduler slurm, ops/slurm/build.sbatch):
#   - starts munged (a key of its own), slurmctld and slurmd on loopback,
#     with their configuration, state, spool and logs in a folder of their
#     own, and waits until the node is idle;
#   - runs a plain batch job and checks its output;
#   - runs the demo build (recgen at ops/demo.sh's sizes) through Slurm with
#     ops/rebuild.sh, which must publish a version that `recctl verify`
#     accepts, built inside the job;
#   - a build job that fails (a bad experiment file), one cancelled from
#     outside, and a rebuild stopped while its job runs: exit 5, the job's
#     state named in the log, nothing published, the job cancelled;
#   - the same build in stages (ops/rebuild.sh --shards 4: ops/slurm/sharded.sh,
#     a train job, a job array of 4 score shards, a dependent merge): every
#     task COMPLETED, the version verifies and `recctl diff` finds no list
#     changed against the one-command build's; a shard that fails: the
#     merge ends CANCELLED, exit 5, the failed task named, nothing published;
#   - stops every job and daemon it started.
#
# Environment (tests/CMakeLists.txt): BIN, SRC, EDGEREC_TEST_TMP.
# Exits 77 (skipped) while recctl, mkcache, recbuild or recgen is not built,
# and, saying why, only where Slurm cannot start here: not root, munge or
# Slurm not installed (ops/setup.sh installs them), or a daemon that exits
# while starting (its log is shown).
set -euo pipefail
source "$(dirname "$0")/ops_common.bash"
recbuild=$BIN/builder/recbuild
recgen=$BIN/builder/recgen
job=$SRC/ops/rebuild.sh
node=edgerec-node

for need in "$recbuild" "$recgen"; do
    [ -x "$need" ] || { echo "$name: $need not built; skipped"; exit 77; }
done
cannot_start() {
    echo "$name: Slurm cannot start here: $*; skipped"
    exit 77
}
[ "$(id -u)" -eq 0 ] || cannot_start "the test starts munged, slurmctld and slurmd as root, and runs as $(id -un)"
for tool in munged munge unmunge slurmctld slurmd sbatch scontrol scancel sinfo squeue python3; do
    command -v "$tool" > /dev/null ||
        cannot_start "$tool is not installed (ops/setup.sh installs munge and slurm-wlm)"
done

# The daemons' folder: in /tmp, not under $tmp or $TMPDIR, whose path may be
# long (a unix socket path has 108 bytes) or closed to others (munged wants
# every folder above its socket open to all).
run=$(mktemp -d /tmp/edgerec-slurm.XXXXXX)
chmod 0755 "$run"
mkdir -m 0755 "$run/munge" "$run/etc" "$run/log" "$run/state" "$run/spool"
export SLURM_CONF=$run/etc/slurm.conf
munged_pid='' ctld_pid='' slurmd_pid=''

daemon_logs() {
    local f
    for f in "$run"/log/*; do
        [ -s "$f" ] || continue
        echo "--- $f (last lines)" >&2
        tail -n 15 -- "$f" >&2
    done
}
fail_extra() {
    daemon_logs
    if [ -s "$tmp/job.log" ]; then
        echo "--- ops/rebuild.sh log (last lines)" >&2
        tail -n 30 -- "$tmp/job.log" >&2
    fi
}

# stop_pid PID NAME: SIGTERM, then SIGKILL after 20 s.
stop_pid() {
    local pid=$1
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 200); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "$name: $2 (pid $pid) ignored SIGTERM for 20 s; killing it" >&2
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}
stop_slurm() {
    # Jobs first (their slurmstepd outlive slurmd), then the daemons.
    if [ -n "$ctld_pid" ] && kill -0 "$ctld_pid" 2>/dev/null; then
        local ids
        ids=$(squeue -h -o %i 2>/dev/null || true)
        if [ -n "$ids" ]; then
            # shellcheck disable=SC2086 # one id per word
            scancel $ids 2>/dev/null || true
            for _ in $(seq 300); do
                [ -z "$(squeue -h -o %i 2>/dev/null || true)" ] && break
                sleep 0.1
            done
        fi
    fi
    stop_pid "$slurmd_pid" slurmd
    stop_pid "$ctld_pid" slurmctld
    stop_pid "$munged_pid" munged
    slurmd_pid='' ctld_pid='' munged_pid=''
    [ -n "${KEEP_TMP:-}" ] || rm -rf -- "$run"
}
cleanup_extra=stop_slurm

# started PID NAME: 77 when the daemon has exited (it could not start).
started() {
    kill -0 "$1" 2>/dev/null && return 0
    daemon_logs
    cannot_start "$2 exited while starting (its log is above)"
}

# ---- munge, with a key of its own ----
dd if=/dev/urandom of="$run/munge/munge.key" bs=1024 count=1 status=none
chmod 0600 "$run/munge/munge.key"
sock=$run/munge/munge.socket
munged --foreground --force --socket="$sock" --key-file="$run/munge/munge.key" \
    --pid-file="$run/munge/munged.pid" --seed-file="$run/munge/munged.seed" \
    > "$run/log/munged.log" 2>&1 &
munged_pid=$!
for _ in $(seq 100); do
    started "$munged_pid" munged
    munge -n -S "$sock" 2>/dev/null | unmunge -S "$sock" > /dev/null 2>&1 && break
    sleep 0.1
done
munge -n -S "$sock" | unmunge -S "$sock" > /dev/null || fail "munged did not answer within 10 s"

# ---- slurm.conf: one node, both daemons on loopback ----
free_ports() {
    python3 -c 'import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*(x.getsockname()[1] for x in s))'
}
read -r ctld_port slurmd_port <<< "$(free_ports)"
host=$(hostname -s)
# The node as slurmd sees the hardware (CPUs, sockets, cores, memory).
hw=$(slurmd -C 2>/dev/null | sed -n 's/^NodeName=[^ ]* //p' | head -n 1)
[ -n "$hw" ] || hw="CPUs=$(nproc)"
cat > "$SLURM_CONF" << EOF
ClusterName=edgerec
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$sock
StateSaveLocation=$run/state
SlurmdSpoolDir=$run/spool
SlurmctldPidFile=$run/slurmctld.pid
SlurmdPidFile=$run/slurmd.pid
SlurmctldLogFile=$run/log/slurmctld.log
SlurmdLogFile=$run/log/slurmd.log
PlugStackConfig=$run/etc/plugstack.conf
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
KillWait=5
MailProg=/bin/true
NodeName=$node NodeHostname=$host NodeAddr=127.0.0.1 $hw State=UNKNOWN
PartitionName=test Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
: > "$run/etc/plugstack.conf"

slurmctld -D -c > "$run/log/slurmctld.out" 2>&1 &
ctld_pid=$!
for _ in $(seq 300); do
    started "$ctld_pid" slurmctld
    scontrol ping 2>/dev/null | grep -q 'is UP' && break
    sleep 0.1
done
scontrol ping | grep -q 'is UP' || fail "slurmctld did not answer within 30 s"

slurmd -D -N "$node" > "$run/log/slurmd.out" 2>&1 &
slurmd_pid=$!
state=
for _ in $(seq 600); do
    started "$slurmd_pid" slurmd
    state=$(sinfo -h -n "$node" -o %t 2>/dev/null || true)
    [ "$state" = idle ] && break
    sleep 0.1
done
[ "$state" = idle ] || fail "node $node is '$state', not idle, 60 s after slurmd started: $(scontrol show node "$node" | grep -i reason)"
cpus=$(sinfo -h -n "$node" -o %c)
ok "munged, slurmctld (port $ctld_port) and slurmd (port $slurmd_port) up; node $node idle with $cpus CPUs"

# job_state ID: the job's state as slurmctld has it.
job_state() { scontrol show job -o "$1" 2>/dev/null | grep -o "JobState=[A-Z_]*" | cut -d= -f2 || true; }
# wait_state ID STATE...: poll (60 s at most) until the job is in one of them.
wait_state() {
    local id=$1 s
    shift
    for _ in $(seq 600); do
        s=$(job_state "$id")
        for want in "$@"; do
            [ "$s" = "$want" ] && return 0
        done
        sleep 0.1
    done
    fail "job $id is $s after 60 s, not $*"
}

# ---- a plain batch job ----
id=$(sbatch --parsable --chdir="$tmp" --output="$tmp/plain-%j.out" \
    --wrap 'echo "job $SLURM_JOB_ID on $SLURMD_NODENAME"')
wait_state "$id" COMPLETED FAILED CANCELLED
[ "$(job_state "$id")" = COMPLETED ] || fail "the plain job $id ended $(job_state "$id")"
grep -qx "job $id on $node" "$tmp/plain-$id.out" || fail "the plain job wrote '$(cat "$tmp/plain-$id.out")'"
ok "a plain batch job ($id) ran on $node"

# ---- the demo build through Slurm ----
data=$tmp/data
"$recgen" --out "$data" --seed 42 --events 200000 --cookies 20000 --products 5000 --dim 64 \
    > /dev/null 2> "$tmp/recgen.log" || { cat "$tmp/recgen.log" >&2; fail "recgen failed"; }
root=$tmp/root
# recgen's events span 14 days: a 30-day window holds them all.
common=(--scheduler slurm --root "$root" --logs "$data/events.csv" --window 30d
        --catalog "$data/catalog.csv" --embeddings "$data/emb.npy" --recctl "$recctl")
# --tune off: the hourly job takes its CF parameters from --params (tuned
# daily, tests/e2e/recbuild_tune.sh); the parameter search alone would take
# minutes in the sanitizer build.
real=("${common[@]}" --bin "$BIN/builder" --slurm-flags "--cpus-per-task=$cpus --time=15"
      --recbuild-flags "--holdout 1 --seed 42 --tune off --progress never")

# run_job EXPECTED_EXIT ARGS...: run the hourly job, keep its log, check the exit.
run_job() {
    local want=$1 rc=0
    shift
    "$job" "$@" > "$tmp/job.out" 2> "$tmp/job.log" || rc=$?
    [ "$rc" -eq "$want" ] || fail "ops/rebuild.sh $* exited $rc, expected $want"
}
# log_job: the job id of the last run's submission.
log_job() { sed -n 's/.*event=rebuild\.slurm_submitted job=\([0-9]*\).*/\1/p' "$tmp/job.log" | tail -n 1; }

t0=$(date +%s)
run_job 0 "${real[@]}"
build_s=$(( $(date +%s) - t0 ))
id=$(log_job)
[ -n "$id" ] || fail "ops/rebuild.sh logged no slurm_submitted line"
v=$("$recctl" current --root "$root") || fail "no current version after the Slurm build"
grep -q "event=rebuild.published version=$v" "$tmp/job.log" || fail "no published line for $v"
grep -q "event=rebuild.slurm_job_done job=$id state=COMPLETED node=$node" "$tmp/job.log" ||
    fail "no slurm_job_done line for job $id on $node"
# build.sbatch's line and recbuild's own, copied from the job's error file:
# the build ran inside job $id, with the job's CPUs.
grep -q "event=build_sbatch.start job=$id node=$host cpus=$cpus" "$tmp/job.log" ||
    fail "the log does not show the build starting inside job $id"
grep -q "event=published version=$v" "$tmp/job.log" || fail "recbuild's own published line is not in the log"
grep -qx "$v" "$root/.slurm/build-$id.out" || fail "the job's output file does not name $v"
[ "$(job_state "$id")" = COMPLETED ] || fail "slurmctld has job $id as $(job_state "$id")"
"$recctl" verify --root "$root" "$v" > "$tmp/verify.out" || fail "$v does not verify: $(cat "$tmp/verify.out")"
ok "ops/rebuild.sh --scheduler slurm built $v in job $id and published it in ${build_s}s; recctl verify: $(head -n 1 "$tmp/verify.out")"

# ---- a build job that fails: exit 5, nothing published ----
cat > "$tmp/bad.json" << 'EOF'
{"id": "e1", "salt": "s1", "arms": [{"name": "control", "buckets": [0, 5000]},
 {"name": "holdout", "buckets": [9800, 10000], "holdout": true, "tiers": ["cf"]}]}
EOF
nversions() { find "$root/versions" -mindepth 1 -maxdepth 1 -type d | wc -l; }
EDGEREC_EXPERIMENTS=$tmp/bad.json run_job 5 "${real[@]}"
id=$(log_job)
grep -q "level=error event=rebuild.slurm_job_failed .*job=$id state=FAILED" "$tmp/job.log" ||
    fail "no slurm_job_failed line naming job $id FAILED"
grep -q "holdout and tiers together" "$tmp/job.log" || fail "recbuild's error did not reach the job's log"
grep -q "level=error event=rebuild.build_failed .*exit=5" "$tmp/job.log" || fail "no build_failed line"
[ "$("$recctl" current --root "$root")" = "$v" ] || fail "a failed build job moved current"
[ "$(nversions)" -eq 1 ] || fail "a failed build job left a version under versions/"
ok "a failing build job ($id) ended FAILED: exit 5, nothing published"

# ---- a job sbatch refuses, a scheduler that does not exist ----
run_job 5 "${common[@]}" --bin "$BIN/builder" --slurm-flags "--partition=nosuch"
grep -q "level=error event=rebuild.build_failed msg=\"sbatch refused the build job; nothing was built\" .*nosuch" \
    "$tmp/job.log" || fail "no build_failed line quoting sbatch's refusal"
run_job 2 "${common[@]}" --bin "$BIN/builder" --scheduler pbs
grep -q "level=error event=rebuild.usage .*not 'pbs'" "$tmp/job.log" || fail "no usage line for --scheduler pbs"
[ "$(nversions)" -eq 1 ] || fail "a refused job left a version under versions/"
ok "sbatch refusing the job (no such partition): exit 5; --scheduler pbs: exit 2"

# ---- a job cancelled from outside, and a rebuild stopped while its job runs ----
fake=$tmp/slow-recbuild
printf '#!/usr/bin/env bash\nexec sleep 300\n' > "$fake"
chmod +x "$fake"
slow=("${common[@]}" --recbuild "$fake")
# start_slow: ops/rebuild.sh in the background; sets job_pid and id once its job runs.
start_slow() {
    "$job" "${slow[@]}" > "$tmp/job.out" 2> "$tmp/job.log" &
    job_pid=$!
    id=
    for _ in $(seq 600); do
        id=$(log_job)
        [ -n "$id" ] && break
        kill -0 "$job_pid" 2>/dev/null || fail "ops/rebuild.sh exited before submitting: $(tail -n 3 "$tmp/job.log")"
        sleep 0.1
    done
    [ -n "$id" ] || fail "ops/rebuild.sh submitted nothing within 60 s"
    wait_state "$id" RUNNING
}
start_slow
scancel "$id"
rc=0
wait "$job_pid" || rc=$?
[ $rc -eq 5 ] || fail "ops/rebuild.sh exited $rc after its job was cancelled, expected 5"
grep -q "event=rebuild.slurm_job_failed .*job=$id state=CANCELLED" "$tmp/job.log" ||
    fail "no slurm_job_failed line naming job $id CANCELLED"
[ "$("$recctl" current --root "$root")" = "$v" ] || fail "a cancelled build job moved current"
ok "a build job cancelled from outside ($id): exit 5"

start_slow
kill -TERM "$job_pid"
wait "$job_pid" 2>/dev/null || true
wait_state "$id" CANCELLED
grep -q "event=rebuild.slurm_cancelled .*job=$id" "$tmp/job.log" || fail "no slurm_cancelled line for job $id"
[ "$("$recctl" current --root "$root")" = "$v" ] || fail "a stopped rebuild moved current"
ok "a rebuild stopped while job $id ran cancelled it"

# ---- the sharded build: train, a job array of 4 score shards, the merge ----
# The same inputs and flags as the one-command build above ($v, job
# --cpus-per-task=$cpus, so --threads $cpus): the lists must be the same.
t0=$(date +%s)
run_job 0 "${real[@]}" --shards 4
build_s=$(( $(date +%s) - t0 ))
read -r merge train array < <(sed -n 's/.*event=rebuild\.slurm_submitted job=\([0-9]*\) train_job=\([0-9]*\) array_job=\([0-9]*\) shards=4 .*/\1 \2 \3/p' "$tmp/job.log" | tail -n 1)
[ -n "$merge" ] || fail "ops/rebuild.sh --shards 4 logged no slurm_submitted line with three jobs"
vs=$("$recctl" current --root "$root")
[ "$vs" != "$v" ] || fail "the sharded build published no new version"
grep -q "event=rebuild.published version=$vs" "$tmp/job.log" || fail "no published line for $vs"
[ "$(job_state "$train")" = COMPLETED ] || fail "the train job $train is $(job_state "$train")"
# One line per array task, each COMPLETED, each a shard of its own.
tasks=$(scontrol show job -o "$array" | grep -c "JobState=COMPLETED" || true)
[ "$tasks" -eq 4 ] || fail "$tasks of the 4 array tasks of job $array COMPLETED"
for i in 0 1 2 3; do
    grep -q "event=stage_sbatch.start stage=score shard=$i shards=4 .*array_job=$array" \
        "$root/.slurm/build-${array}_$i.err" || fail "array task $i's log does not show shard $i/4 starting"
    grep -q "event=stage.score shard=$i/4" "$root/.slurm/build-${array}_$i.err" || fail "array task $i scored no shard"
done
grep -q "event=stage_sbatch.start stage=merge .*job=$merge" "$tmp/job.log" || fail "the merge's log is not in the job's log"
[ -z "$(ls -A "$root/.runs" 2>/dev/null)" ] || fail "the stages' files were not removed after the merge"
"$recctl" verify --root "$root" "$vs" > "$tmp/verify.out" || fail "$vs does not verify: $(cat "$tmp/verify.out")"
"$recctl" diff --root "$root" "$v" "$vs" > "$tmp/diff.txt" || fail "recctl diff exited with $?"
awk '$2 ~ /^[0-9]+$/ && $3 ~ /^[0-9]+$/ { rows++; if ($4 + $5 + $6 != 0) bad = 1; if ($1 == "cookie") c = $7 }
     END { exit bad || rows < 6 || c < 1000 }' "$tmp/diff.txt" ||
    { cat "$tmp/diff.txt" >&2; fail "the sharded build's lists differ from the one-command build's"; }
# ... and against a local one-command build with the same inputs and flags.
"$recbuild" --events "$data/events.csv" --catalog "$data/catalog.csv" --embeddings "$data/emb.npy" \
    --window-days 30 --holdout 1 --seed 42 --tune off --progress never --log-level warn --threads "$cpus" \
    --out "$tmp/local" > "$tmp/local.out" 2> "$tmp/local.log" || { cat "$tmp/local.log" >&2; fail "the local build failed"; }
"$recctl" diff "$tmp/local/versions/$(cat "$tmp/local.out")" "$root/versions/$vs" > "$tmp/diff_local.txt" ||
    fail "recctl diff against the local build exited with $?"
awk '$2 ~ /^[0-9]+$/ && $3 ~ /^[0-9]+$/ { rows++; if ($4 + $5 + $6 != 0) bad = 1 } END { exit bad || rows < 6 }' \
    "$tmp/diff_local.txt" || { cat "$tmp/diff_local.txt" >&2; fail "the sharded build's lists differ from a local build's"; }
ok "ops/rebuild.sh --shards 4: train $train, array $array (4 tasks), merge $merge published $vs in ${build_s}s; verifies; recctl diff against $v (one batch job) and a local one-command build: no list added, removed or changed"

# ---- a shard that fails: the merge is cancelled, nothing published ----
flaky=$tmp/flaky-recbuild
cat > "$flaky" << EOF
#!/usr/bin/env bash
for a in "\$@"; do [ "\$a" != 2/4 ] || { echo "shard 2 fails on purpose" >&2; exit 1; }; done
exec "$recbuild" "\$@"
EOF
chmod +x "$flaky"
run_job 5 "${real[@]}" --shards 4 --recbuild "$flaky"
read -r merge array < <(sed -n 's/.*event=rebuild\.slurm_submitted job=\([0-9]*\) train_job=[0-9]* array_job=\([0-9]*\) .*/\1 \2/p' "$tmp/job.log" | tail -n 1)
grep -q "event=rebuild.slurm_job_failed .*job=$merge state=CANCELLED" "$tmp/job.log" ||
    fail "no slurm_job_failed line naming the merge $merge CANCELLED"
grep -q "event=rebuild.slurm_stage_failed job=[0-9]* state=FAILED task=2 " "$tmp/job.log" ||
    fail "the log does not name array task 2 as the failed stage"
grep -q "shard 2 fails on purpose" "$tmp/job.log" || fail "the failed shard's error did not reach the job's log"
[ "$("$recctl" current --root "$root")" = "$vs" ] || fail "a failed shard moved current"
[ "$(nversions)" -eq 2 ] || fail "a failed shard left a version under versions/"
ok "a failing shard (array $array task 2): the merge $merge ended CANCELLED, exit 5, nothing published"

stop_slurm
ok "all jobs and daemons stopped"
