#!/usr/bin/env bash
# ops/rebuild.sh - the hourly rebuild job: build a new cache version from
# the last window of event logs, check it, and only then make it current.
#
#   1. take the lock (flock, non-blocking): never two rebuilds at once
#   2. pick the event log files modified within the window
#   3. recbuild --no-flip --keep 0 --window-days W --events F...: the new
#      version lands under versions/ but `current` does not move
#   4. recctl verify: manifest, checksums, every record
#   5. quality gate, on the new version alone (so also on the first build):
#      the model must not be degenerate, and CF's NDCG must beat the
#      most-popular baseline's on the holdout (recbuild --holdout K)
#      by --min-lift (manifest "evaluation": degenerate, lift)
#   6. comparison gates against the version `current` names (the one
#      serving): record counts per DB must not collapse, holdout metrics
#      must not drop too far
#   7. recctl publish (atomic flip of `current`), recctl prune
#
# A version that fails step 4, 5 or 6 is moved to <root>/rejected/<id>/ with a
# <id>.reason file beside it: out of versions/, so neither rollback nor a
# rollout can pick it up, but kept for a post-mortem (the newest
# --keep-rejected are kept). `current` is never touched on failure.
#
# Options (each also read from the environment variable in brackets):
#   --root DIR              cache root                       [EDGEREC_ROOT]
#   --logs GLOB             event log files, e.g. '/var/log/edgerec/events-*.csv'
#                                                            [EDGEREC_LOGS]
#   --window DUR            how far back to read logs: Nh or Nd (default 7d)
#                                                            [EDGEREC_WINDOW]
#   --catalog FILE          catalog.csv                      [EDGEREC_CATALOG]
#   --embeddings FILE       emb.npy (ids beside it, see schemas/inputs.md)
#                                                            [EDGEREC_EMBEDDINGS]
#   --params FILE           CF parameters for recbuild (--params; written
#                           daily by recbuild --tune-only --tune-out FILE,
#                           schemas/params.md); while FILE does not exist
#                           recbuild tunes them itself      [EDGEREC_PARAMS]
#   --experiments FILE      the experiment the new version carries
#                           (recbuild --experiments, schemas/experiments.md);
#                           while FILE does not exist the version runs none:
#                           edit it to start or change one, remove it to stop
#                                                            [EDGEREC_EXPERIMENTS]
#   --rules FILE            business rules on the lists (recbuild --rules,
#                           schemas/rules.md); while FILE does not exist the
#                           version is built without rules (warned). Rules
#                           lower NDCG on purpose: the first build with new
#                           rules may need --skip-gates     [EDGEREC_RULES]
#   --recbuild-flags "..."  extra recbuild flags, split on spaces (after the
#                           job's own, e.g. "--holdout 1 --device gpu")
#                                                            [EDGEREC_RECBUILD_FLAGS]
#   --min-count-pct P       each DB's records >= P% of the previous version's
#                           (default 50)                     [EDGEREC_GATE_MIN_COUNT_PCT]
#   --max-metric-drop-pct P each metric >= (100-P)% of the previous value
#                           (default 20)                     [EDGEREC_GATE_MAX_METRIC_DROP_PCT]
#   --metrics "hr ndcg"     manifest evaluation metrics to gate on
#                                                            [EDGEREC_GATE_METRICS]
#   --min-lift R            quality gate: the evaluation's lift (CF ndcg /
#                           most-popular ndcg) must be >= R (default 1.0;
#                           0 checks only for a degenerate model)
#                                                            [EDGEREC_GATE_MIN_LIFT]
#   --skip-gates            publish without the comparison gates (exits 7, 8),
#                           e.g. when a drop is expected (on-call override,
#                           logged); the quality gate still runs
#   --skip-quality-gate     publish without the quality gate (exit 10)
#                           (on-call override, logged)
#   --keep K                versions kept after publishing (default 24)
#                                                            [EDGEREC_KEEP]
#   --keep-rejected K       rejected versions kept (default 5) [EDGEREC_KEEP_REJECTED]
#   --lock FILE             lock file (default <root>/.rebuild.lock)
#                                                            [EDGEREC_LOCK]
#   --bin DIR               where recbuild and recctl are (default: $PATH)
#                                                            [EDGEREC_BIN]
#   --recbuild PATH, --recctl PATH   the programs themselves
#                                                            [EDGEREC_RECBUILD, EDGEREC_RECCTL]
#   --scheduler local|slurm where step 3 runs (default local). slurm: the
#                           build is submitted with sbatch as one batch job
#                           (ops/slurm/build.sbatch), this job waits for it
#                           and fails with exit 5 unless it ends COMPLETED;
#                           steps 4-7 run here either way. The cache root,
#                           the logs, the inputs and recbuild must then sit
#                           on a file system the nodes share, at the same
#                           paths (relative paths are made absolute here; a
#                           path in --recbuild-flags must be absolute). The
#                           job's output and error files are kept in
#                           <root>/.slurm/ (the newest --keep jobs'); its log
#                           lines are copied to this job's log when it ends.
#                           See ops/slurm/README.md.
#                                                            [EDGEREC_SCHEDULER]
#   --slurm-flags "..."     extra sbatch flags, split on spaces, e.g.
#                           "--partition=build --time=50 --cpus-per-task=8 --mem=16G"
#                                                            [EDGEREC_SLURM_FLAGS]
#   --slurm-script FILE     the batch script (default: slurm/build.sbatch
#                           beside this script; with --shards above 1,
#                           slurm/stage.sbatch)               [EDGEREC_SLURM_SCRIPT]
#   --shards N              with --scheduler slurm: the build in stages
#                           (schemas/stages.md) through ops/slurm/sharded.sh:
#                           a train job, a job array of N score shards and a
#                           merge job, each waiting for the one before
#                           (afterok); this job waits on the merge as on
#                           build.sbatch, and names the failed job or array
#                           task in its log. The stages share
#                           <root>/.runs/RUN/, removed when the merge ends
#                           COMPLETED (a failed run's stays, the newest 2).
#                           1 (default): the one batch job  [EDGEREC_SHARDS]
#
# Exit codes (one per failure class; the last log line names it):
#   0  published a new version
#   1  unexpected error (a bug in this script or the machine; see the log)
#   2  usage or configuration error (bad flag, missing program, no root)
#   3  another rebuild holds the lock; nothing was done
#   4  no event log files in the window; nothing was built
#   5  recbuild failed (with --scheduler slurm: sbatch refused the job, or
#      the job did not end COMPLETED); nothing was published
#   6  the new version does not verify; rejected
#   7  gate: a DB's record count collapsed against the previous version; rejected
#   8  gate: a holdout metric dropped too far against the previous version; rejected
#   9  the version passed every check but publishing (the flip) failed
#  10  quality gate: the model is degenerate, or CF does not beat the
#      most-popular baseline by --min-lift; rejected
#
# Logs: one logfmt line per event on stderr (journald keeps them):
#   ts=... level=info event=rebuild.published version=... previous=...
set -euo pipefail
export LC_ALL=C

prog=rebuild

# log, die, usage (installed beside this script as lib/log.sh)
# shellcheck source=ops/lib/log.sh
source "$(dirname "$(readlink -f "$0")")/lib/log.sh"

root=${EDGEREC_ROOT:-}
logs=${EDGEREC_LOGS:-}
window=${EDGEREC_WINDOW:-7d}
catalog=${EDGEREC_CATALOG:-}
embeddings=${EDGEREC_EMBEDDINGS:-}
recbuild_flags=${EDGEREC_RECBUILD_FLAGS:-}
params=${EDGEREC_PARAMS:-}
experiments=${EDGEREC_EXPERIMENTS:-}
rules=${EDGEREC_RULES:-}
min_count_pct=${EDGEREC_GATE_MIN_COUNT_PCT:-50}
max_metric_drop_pct=${EDGEREC_GATE_MAX_METRIC_DROP_PCT:-20}
metrics=${EDGEREC_GATE_METRICS:-hr ndcg}
min_lift=${EDGEREC_GATE_MIN_LIFT:-1.0}
keep=${EDGEREC_KEEP:-24}
keep_rejected=${EDGEREC_KEEP_REJECTED:-5}
lock=${EDGEREC_LOCK:-}
bin=${EDGEREC_BIN:-}
recbuild=${EDGEREC_RECBUILD:-}
recctl=${EDGEREC_RECCTL:-}
scheduler=${EDGEREC_SCHEDULER:-local}
slurm_flags=${EDGEREC_SLURM_FLAGS:-}
slurm_script=${EDGEREC_SLURM_SCRIPT:-}
slurm_job=
slurm_jobs=   # with --shards: every job submitted (train, array, merge), for cancelling
slurm_done=0
shards=${EDGEREC_SHARDS:-1}
skip_gates=0
skip_quality_gate=0

while [ $# -gt 0 ]; do
    opt=$1
    case $opt in
        -h|--help) usage; exit 0 ;;
        --skip-gates) skip_gates=1; shift; continue ;;
        --skip-quality-gate) skip_quality_gate=1; shift; continue ;;
    esac
    [ $# -ge 2 ] || { log error usage msg="option $opt needs a value (see --help)" exit=2; exit 2; }
    case $opt in
        --root) root=$2 ;;
        --logs) logs=$2 ;;
        --window) window=$2 ;;
        --catalog) catalog=$2 ;;
        --embeddings) embeddings=$2 ;;
        --recbuild-flags) recbuild_flags=$2 ;;
        --params) params=$2 ;;
        --experiments) experiments=$2 ;;
        --rules) rules=$2 ;;
        --min-count-pct) min_count_pct=$2 ;;
        --max-metric-drop-pct) max_metric_drop_pct=$2 ;;
        --metrics) metrics=$2 ;;
        --min-lift) min_lift=$2 ;;
        --keep) keep=$2 ;;
        --keep-rejected) keep_rejected=$2 ;;
        --lock) lock=$2 ;;
        --bin) bin=$2 ;;
        --recbuild) recbuild=$2 ;;
        --recctl) recctl=$2 ;;
        --scheduler) scheduler=$2 ;;
        --slurm-flags) slurm_flags=$2 ;;
        --slurm-script) slurm_script=$2 ;;
        --shards) shards=$2 ;;
        *) log error usage msg="unknown option $opt (see --help)" exit=2; exit 2 ;;
    esac
    shift 2
done

# ---- configuration checks (exit 2) ----
[ -n "$root" ] || die 2 usage msg="no cache root: give --root or set EDGEREC_ROOT"
[ -n "$logs" ] || die 2 usage msg="no event logs: give --logs GLOB or set EDGEREC_LOGS"
[[ $window =~ ^[1-9][0-9]{0,5}[hd]$ ]] || die 2 usage msg="--window wants Nh or Nd (N >= 1), not '$window'"
case $window in
    *h) window_s=$(( 10#${window%h} * 3600 )) ;;
    *d) window_s=$(( 10#${window%d} * 86400 )) ;;
esac
window_days=$(awk -v s="$window_s" 'BEGIN { printf "%.6g", s / 86400 }')
for n in "$min_count_pct" "$max_metric_drop_pct" "$keep" "$keep_rejected"; do
    [[ $n =~ ^[0-9]+$ ]] || die 2 usage msg="'$n' is not a whole number"
done
[ "$keep" -ge 1 ] || die 2 usage msg="--keep must be at least 1"
[[ $shards =~ ^[1-9][0-9]{0,3}$ ]] || die 2 usage msg="--shards wants a count from 1 to 4096, not '$shards'"
[[ $min_lift =~ ^[0-9]{1,6}(\.[0-9]{1,6})?$ ]] ||
    die 2 usage msg="--min-lift wants a number >= 0 such as 1.2, not '$min_lift'"

find_prog() { # find_prog NAME EXPLICIT
    local name=$1 explicit=$2
    if [ -n "$explicit" ]; then
        printf '%s' "$explicit"
    elif [ -n "$bin" ]; then
        printf '%s' "$bin/$name"
    else
        command -v "$name" || printf '%s' "$name"
    fi
}
recbuild=$(find_prog recbuild "$recbuild")
recctl=$(find_prog recctl "$recctl")
for p in "$recbuild" "$recctl"; do
    [ -x "$p" ] || die 2 config msg="program not found or not executable" path="$p"
done
[ -z "$catalog" ] || [ -r "$catalog" ] || die 2 config msg="catalog not readable" path="$catalog"
[ -z "$embeddings" ] || [ -r "$embeddings" ] || die 2 config msg="embeddings not readable" path="$embeddings"
case $scheduler in
    local) ;;
    slurm)
        for p in sbatch scontrol scancel; do
            command -v "$p" > /dev/null ||
                die 2 config msg="--scheduler slurm needs the Slurm client programs; $p is not in PATH"
        done
        if [ "$shards" -gt 1 ]; then
            slurm_script=${slurm_script:-$(dirname "$(readlink -f "$0")")/slurm/stage.sbatch}
            slurm_sharded=$(dirname "$(readlink -f "$0")")/slurm/sharded.sh
            [ -x "$slurm_sharded" ] || die 2 config msg="ops/slurm/sharded.sh not found" path="$slurm_sharded"
        fi
        slurm_script=${slurm_script:-$(dirname "$(readlink -f "$0")")/slurm/build.sbatch}
        [ -r "$slurm_script" ] || die 2 config msg="Slurm batch script not readable" path="$slurm_script"
        # The job may run on another node, in another folder: every path it
        # is given is absolute (a new path variable that reaches recbuild
        # belongs in this list).
        for v in root logs catalog embeddings params experiments rules recbuild; do
            if [ -n "${!v}" ] && [[ ${!v} != /* ]]; then
                printf -v "$v" '%s/%s' "$PWD" "${!v}"
            fi
        done
        ;;
    *) die 2 usage msg="--scheduler wants local or slurm, not '$scheduler'" ;;
esac
[ "$shards" -eq 1 ] || [ "$scheduler" = slurm ] ||
    die 2 usage msg="--shards $shards needs --scheduler slurm (a local build runs in one command)"

mkdir -p -- "$root/versions" || die 2 config msg="cannot create the cache root" root="$root"
lock=${lock:-$root/.rebuild.lock}

# ---- 1. the lock (exit 3) ----
exec 9>>"$lock" || die 2 config msg="cannot open the lock file" lock="$lock"
if ! flock -n 9; then
    holder=$(cat "$lock.pid" 2>/dev/null || true)
    die 3 locked msg="another rebuild is running; not starting a second one" lock="$lock" holder_pid="${holder:-unknown}"
fi
echo $$ > "$lock.pid"
t0=$(date +%s)
run_id="$(date -u +%Y%m%dT%H%M%SZ).$$"
log info start root="$root" window="$window" logs="$logs" run="$run_id"

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    if [ -n "$slurm_job" ] && [ "$slurm_done" -eq 0 ]; then
        # shellcheck disable=SC2086 # one job id per word
        scancel -- ${slurm_jobs:-$slurm_job} 2>/dev/null &&
            log warn slurm_cancelled msg="this job ends before its build job did: cancelled it" job="$slurm_job" \
                jobs="${slurm_jobs:-$slurm_job}"
    fi
    rm -f -- "$lock.pid"
}
trap cleanup EXIT
trap 'log error failed msg="unexpected error at line $LINENO" exit=1' ERR

# ---- 2. the log files of the window (exit 4) ----
# Files are chosen by modification time, so a log rotated an hour ago still
# counts when it holds the last hour; recbuild gets each file as --events
# and drops events older than the window before the newest one.
shopt -s nullglob
# shellcheck disable=SC2206 # the glob is meant to expand here
candidates=($logs)
shopt -u nullglob
cutoff=$(( $(date +%s) - window_s ))
files=()
for f in "${candidates[@]}"; do
    [ -f "$f" ] || continue
    if [ "$(stat -c %Y -- "$f")" -ge "$cutoff" ]; then
        files+=("$f")
    fi
done
if [ ${#files[@]} -eq 0 ]; then
    die 4 no_input msg="no event log file modified within the window" logs="$logs" window="$window" \
        candidates=${#candidates[@]}
fi
bytes=$(stat -c %s -- "${files[@]}" | awk '{s += $1} END {print s + 0}')
log info inputs files=${#files[@]} bytes="$bytes" newest="${files[${#files[@]}-1]}"

# ---- step 3 on Slurm (--scheduler slurm; ops/slurm/README.md) ----
# The job's final state decides, not sbatch's exit status: `sbatch --wait`
# exits 0 for a job cancelled before it ran (a dependency never met).
slurm_dir=$root/.slurm

# slurm_job_state JOB: "STATE EXIT_CODE NODES REASON" from scontrol, or from
# sacct once the controller has forgotten the job; nothing when neither
# knows it.
slurm_job_state() {
    local line state code='?' node='?' reason='?'
    line=$(scontrol show job -o -- "$1" 2>/dev/null | head -n 1) || line=
    if [[ $line =~ (^|[[:space:]])JobState=([A-Z_]+) ]]; then
        state=${BASH_REMATCH[2]}
        if [[ $line =~ [[:space:]]ExitCode=([0-9]+:[0-9]+) ]]; then code=${BASH_REMATCH[1]}; fi
        if [[ $line =~ [[:space:]]NodeList=([^[:space:]]+) ]]; then node=${BASH_REMATCH[1]}; fi
        if [[ $line =~ [[:space:]]Reason=([^[:space:]]+) ]]; then reason=${BASH_REMATCH[1]}; fi
        printf '%s %s %s %s\n' "$state" "$code" "$node" "$reason"
        return 0
    fi
    command -v sacct > /dev/null || return 0
    sacct -n -X -P -j "$1" -o State,ExitCode,NodeList 2>/dev/null |
        awk -F'|' 'NR == 1 && $1 != "" { split($1, s, " "); print s[1], $2, ($3 == "" ? "?" : $3), "?" }' || true
}

# slurm_build: recbuild "${args[@]}" as a batch job on the cluster; sets
# said (the job's stdout) and rc (0 only when the job ended COMPLETED).
slurm_build() {
    mkdir -p -- "$slurm_dir" || die 5 build_failed msg="cannot create the Slurm job folder" path="$slurm_dir"
    local sub extra
    # shellcheck disable=SC2206 # extra flags are split on spaces on purpose
    extra=($slurm_flags)
    if [ "$shards" -gt 1 ]; then
        slurm_submit_sharded
        return
    fi
    sub=$(sbatch --parsable --job-name=edgerec-rebuild --chdir="$root" \
        --output="$slurm_dir/build-%j.out" --error="$slurm_dir/build-%j.err" \
        "${extra[@]}" "$slurm_script" "$recbuild" "${args[@]}" 2> "$slurm_dir/sbatch.err") ||
        die 5 build_failed msg="sbatch refused the build job; nothing was built" \
            detail="$(tail -n 3 -- "$slurm_dir/sbatch.err")"
    slurm_job=${sub%%;*}
    [[ $slurm_job =~ ^[0-9]+$ ]] ||
        die 5 build_failed msg="sbatch did not print a job id" said="$sub"
    local out=$slurm_dir/build-$slurm_job.out err=$slurm_dir/build-$slurm_job.err
    log info slurm_submitted job="$slurm_job" script="$slurm_script" flags="$slurm_flags" output="$out" error="$err"
    slurm_wait "$out" "$err"
}

# slurm_submit_sharded: the stages through ops/slurm/sharded.sh (--shards);
# waits on the merge job as slurm_build waits on its one job.
slurm_submit_sharded() {
    local work=$root/.runs/$run_id ids train array
    mkdir -p -- "$work" || die 5 build_failed msg="cannot create the stages' folder" path="$work"
    ids=$("$slurm_sharded" --shards "$shards" --work "$work" --logs "$slurm_dir" --script "$slurm_script" \
        --sbatch-flags "--chdir=$root $slurm_flags" -- "$recbuild" "${args[@]}" 2> "$slurm_dir/sbatch.err") ||
        die 5 build_failed msg="sbatch refused a job of the sharded build; nothing was built" \
            detail="$(tail -n 3 -- "$slurm_dir/sbatch.err")"
    read -r train array slurm_job <<< "$ids"
    [[ $train =~ ^[0-9]+$ && $array =~ ^[0-9]+$ && $slurm_job =~ ^[0-9]+$ ]] ||
        die 5 build_failed msg="ops/slurm/sharded.sh did not print three job ids" said="$ids"
    slurm_jobs="$train $array $slurm_job"
    log info slurm_submitted job="$slurm_job" train_job="$train" array_job="$array" shards="$shards" \
        script="$slurm_script" flags="$slurm_flags" work="$work"
    slurm_wait "$slurm_dir/build-$slurm_job.out" "$slurm_dir/build-$slurm_job.err"
    if [ "$rc" -eq 0 ]; then
        rm -rf -- "$work"
    else
        # Which stage failed: the train job, array tasks (one line each), the merge.
        local line
        while read -r line; do
            [[ $line =~ JobId=([0-9]+).*JobState=([A-Z_]+) ]] || continue
            case ${BASH_REMATCH[2]} in
                COMPLETED|PENDING|RUNNING) ;;
                *) local f
                   f=$(grep -o 'StdErr=[^ ]*' <<< "$line" | cut -d= -f2 || true)
                   [ -z "$f" ] || [ ! -s "$f" ] || cat -- "$f" >&2 # the failed stage's log lines
                   log error slurm_stage_failed job="${BASH_REMATCH[1]}" state="${BASH_REMATCH[2]}" \
                       task="$(grep -o 'ArrayTaskId=[0-9]*' <<< "$line" | cut -d= -f2 || true)" error_file="$f" ;;
            esac
        done < <(scontrol show job -o -- "$train" 2>/dev/null; scontrol show job -o -- "$array" 2>/dev/null)
        log warn stages_kept msg="the failed run's stage files are kept" work="$work"
        # shellcheck disable=SC2012 # run ids are [0-9TZ.]
        { ls -1t -- "$root/.runs" | tail -n +3 || true; } | while read -r f; do rm -rf -- "${root:?}/.runs/$f"; done
    fi
}

# slurm_wait OUT ERR: wait for $slurm_job to end; sets said and rc.
slurm_wait() {
    local out=$1 err=$2
    local info state='' code='?' node='?' reason='?' seen='' polls=0 unknown_since=0
    while :; do
        info=$(slurm_job_state "$slurm_job")
        if [ -z "$info" ]; then
            # The controller may be restarting: give it 5 minutes.
            [ "$unknown_since" -gt 0 ] || unknown_since=$(date +%s)
            [ $(( $(date +%s) - unknown_since )) -lt 300 ] ||
                die 5 build_failed msg="neither scontrol nor sacct has known the build job for 5 minutes" \
                    job="$slurm_job"
        else
            unknown_since=0
            read -r state code node reason <<< "$info"
            if [ "$state" != "$seen" ]; then
                log info slurm_job job="$slurm_job" state="$state" node="$node" reason="$reason"
                seen=$state
            fi
            case $state in
                COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|PREEMPTED|OUT_OF_MEMORY|BOOT_FAIL|DEADLINE) break ;;
            esac
        fi
        # every 1-5 s for the first minutes, then every 10 s; without the
        # lock's descriptor, so that a sleep outliving this job (SIGTERM)
        # does not hold the lock after it
        polls=$((polls + 1))
        sleep $(( polls < 50 ? 1 + polls / 10 : 10 )) 9>&-
    done
    slurm_done=1

    said=$(cat -- "$out" 2>/dev/null || true)
    [ ! -s "$err" ] || cat -- "$err" >&2 # the job's log lines (recbuild's) into this job's log
    if [ "$state" = COMPLETED ]; then
        rc=0
        log info slurm_job_done job="$slurm_job" state="$state" node="$node"
    else
        local n=${code%%:*} s=${code##*:}
        if [[ $n =~ ^[0-9]+$ ]] && [ "$n" -gt 0 ]; then
            rc=$n
        elif [[ $s =~ ^[0-9]+$ ]] && [ "$s" -gt 0 ]; then
            rc=$((128 + s))
        else
            rc=1
        fi
        log error slurm_job_failed msg="the build job ended $state" job="$slurm_job" state="$state" \
            exit_code="$code" node="$node" reason="$reason" error_file="$err"
    fi
    # The files of the newest --keep jobs stay.
    # shellcheck disable=SC2010 # job file names are build-<digits>.out|err
    { ls -1t -- "$slurm_dir" | grep -E '^build-[0-9]+(_[0-9]+)?\.(out|err)$' |
        tail -n +$((2 * keep * (shards > 1 ? shards + 2 : 1) + 1)) || true; } |
        while read -r f; do rm -f -- "${slurm_dir:?}/$f"; done
}

# ---- 3. build without flipping `current` (exit 5) ----
previous=$("$recctl" current --root "$root" 2>/dev/null || true)
# shellcheck disable=SC2010 # version ids are [A-Za-z0-9._-]
list_versions() { ls -1 -- "$root/versions" 2>/dev/null | grep -v '^\.' | sort || true; }
before=$(list_versions)
# --keep 0: recbuild prunes nothing; this job prunes after publishing, so a
# version is never removed before the one replacing it is checked.
args=(--out "$root" --no-flip --keep 0 --window-days "$window_days")
for f in "${files[@]}"; do
    args+=(--events "$f")
done
[ -z "$catalog" ] || args+=(--catalog "$catalog")
[ -z "$embeddings" ] || args+=(--embeddings "$embeddings")
if [ -n "$params" ] && [ -f "$params" ]; then
    args+=(--params "$params")
elif [ -n "$params" ]; then
    log warn params_missing msg="no parameter file yet: recbuild tunes the CF parameters itself" params="$params"
fi
if [ -n "$experiments" ] && [ -e "$experiments" ]; then
    args+=(--experiments "$experiments") # a bad file fails the build (exit 5), naming the fault
elif [ -n "$experiments" ]; then
    log info no_experiment msg="no experiment file: the new version runs no experiment" experiments="$experiments"
fi
if [ -n "$rules" ] && [ -e "$rules" ]; then
    args+=(--rules "$rules") # a bad file fails the build (exit 5), naming the fault
elif [ -n "$rules" ]; then
    log warn no_rules msg="no rules file: the new version is built without rules" rules="$rules"
fi
# shellcheck disable=SC2206 # extra flags are split on spaces on purpose
[ -z "$recbuild_flags" ] || args+=($recbuild_flags)
log info build cmd="$(basename "$recbuild") ${args[*]}" previous="${previous:-none}"
tb=$(date +%s)
rc=0
# recbuild prints the new version id on stdout; the listing before and after
# cross-checks it.
if [ "$scheduler" = slurm ]; then
    slurm_build
else
    said=$("$recbuild" "${args[@]}") || rc=$?
fi
after=$(list_versions)
new=$(comm -13 <(printf '%s\n' "$before") <(printf '%s\n' "$after") | sed '/^$/d')
if [ $rc -ne 0 ]; then
    # recbuild publishes nothing when it fails (builder/output.h); should a
    # version have appeared anyway, it is not trusted.
    for v in $new; do
        mkdir -p -- "$root/rejected"
        mv -- "$root/versions/$v" "$root/rejected/$v.$run_id" 2>/dev/null || true
        echo "recbuild exited with $rc" > "$root/rejected/$v.$run_id.reason"
    done
    die 5 build_failed msg="recbuild failed; current unchanged" recbuild_exit=$rc current="${previous:-none}"
fi
if [ "$(printf '%s\n' "$new" | sed '/^$/d' | wc -l)" -ne 1 ]; then
    die 5 build_failed msg="recbuild succeeded but did not add exactly one version under versions/" \
        added="${new//$'\n'/ }"
fi
# A version id (shared/layout.c), never a path or an option.
[[ $new =~ ^[A-Za-z0-9_][A-Za-z0-9._-]{0,62}$ ]] ||
    die 5 build_failed msg="the new entry under versions/ is not a version id" added="$new"
if [ -n "$said" ] && [ "$said" != "$new" ]; then
    log warn version_mismatch msg="recbuild named another version than the one that appeared" said="$said" \
        appeared="$new"
fi
log info built version="$new" build_s=$(( $(date +%s) - tb ))

# Current cannot have moved: recbuild ran with --no-flip.
now_current=$("$recctl" current --root "$root" 2>/dev/null || true)
if [ "$now_current" != "$previous" ]; then
    log warn flip_unexpected msg="current moved during the build (was recbuild run without --no-flip?)" \
        was="${previous:-none}" now="$now_current"
fi

reject() { # reject CODE EVENT REASON [key=value ...]
    local code=$1 event=$2 reason=$3
    shift 3
    local dest=$root/rejected/$new
    # An id can come back after its version was rejected (a rebuild in the
    # same second); the older rejection keeps its name.
    [ ! -e "$dest" ] || dest=$dest.$run_id
    mkdir -p -- "$root/rejected"
    if mv -- "$root/versions/$new" "$dest"; then
        printf '%s\n' "$reason" "$@" > "$dest.reason"
    else
        log error reject_move_failed msg="could not move the version out of versions/; remove it by hand" \
            version="$new"
    fi
    # Keep the newest rejected versions only.
    # shellcheck disable=SC2010 # version ids are [A-Za-z0-9._-]
    { ls -1 -- "$root/rejected" | grep -v '\.reason$' | sort | head -n -"$keep_rejected" || true; } |
        while read -r old; do
            rm -rf -- "${root:?}/rejected/$old" "$root/rejected/$old.reason"
        done
    die "$code" "$event" msg="$reason; current unchanged" version="$new" current="${previous:-none}" \
        moved_to="$dest" "$@"
}

# ---- 4. verify (exit 6) ----
rc=0
vout=$("$recctl" verify --root "$root" -- "$new" 2>&1) || rc=$?
if [ $rc -ne 0 ]; then
    reject 6 verify_failed "the new version does not verify" detail="$(printf '%s' "$vout" | tail -n 3)"
fi
log info verified version="$new" detail="$vout"

show() { "$recctl" show --root "$root" -- "$1"; }
# value INFO KEY: the value of KEY in `recctl show` output (all after the first '=')
value() { printf '%s\n' "$1" | awk -v k="$2" 'index($0, k "=") == 1 { print substr($0, length(k) + 2); exit }'; }
new_info=$(show "$new")

# ---- 5. quality gate: the new version alone (exit 10) ----
# recbuild writes "degenerate" and "lift" in "evaluation"; "lift" needs
# --holdout K and is absent when the most-popular baseline scored ndcg 0
# (nothing to beat).
degenerate=$(value "$new_info" evaluation.degenerate)
lift=$(value "$new_info" evaluation.lift)
if [ $skip_quality_gate -eq 1 ]; then
    log warn quality_gate_skipped msg="--skip-quality-gate given: publishing without the quality gate" \
        version="$new"
elif [ -z "$degenerate" ] && [ -z "$lift" ]; then
    if [ -z "$(value "$new_info" evaluation.k)" ]; then
        log warn quality_gate_skipped msg="no holdout evaluation in the manifest, so the quality gate could not run; \
add --holdout 1 to --recbuild-flags" version="$new"
    else
        log warn quality_gate_skipped msg="the evaluation has neither lift nor degenerate (recbuild too old?), \
so the quality gate could not run" version="$new"
    fi
else
    ndcg=$(value "$new_info" evaluation.ndcg)
    pop_ndcg=$(value "$new_info" evaluation.pop_ndcg)
    if [ "$degenerate" = true ]; then
        why=$(value "$new_info" evaluation.degenerate_reason)
        reject 10 gate_quality "degenerate model: ${why:-recbuild gave no reason}" \
            degenerate_reason="${why:-none}" ndcg="${ndcg:-absent}" pop_ndcg="${pop_ndcg:-absent}"
    fi
    if [ -z "$lift" ] && [ -z "$(value "$new_info" evaluation.k)" ]; then
        log warn gate_lift_skipped msg="no holdout evaluation, so only the degenerate check ran; \
add --holdout 1 to --recbuild-flags" version="$new" degenerate="$degenerate"
    elif [ -z "$lift" ] || awk -v p="$pop_ndcg" 'BEGIN { exit !(p != "" && p + 0 == 0) }'; then
        log info gate_lift_skipped msg="no lift: the most-popular baseline scored ndcg 0, nothing to beat" \
            version="$new" degenerate="$degenerate" ndcg="${ndcg:-absent}" pop_ndcg="${pop_ndcg:-absent}"
    elif awk -v l="$lift" -v r="$min_lift" 'BEGIN { exit !(l + 0 < r + 0) }'; then
        reject 10 gate_quality "cf ndcg $ndcg is below $min_lift x most-popular $pop_ndcg" \
            lift="$lift" min_lift="$min_lift" ndcg="$ndcg" pop_ndcg="$pop_ndcg"
    else
        log info gate_quality_ok version="$new" lift="$lift" min_lift="$min_lift" ndcg="$ndcg" pop_ndcg="$pop_ndcg" \
            degenerate="${degenerate:-absent}"
    fi
fi

# ---- 6. comparison gates against the version now serving (exits 7, 8) ----
if [ -z "$previous" ]; then
    log info gates_skipped msg="no previous version: first build, no comparison gates" version="$new"
elif [ $skip_gates -eq 1 ]; then
    log warn gates_skipped msg="--skip-gates given: publishing without comparing to the previous version" \
        version="$new" previous="$previous"
else
    old_info=$(show "$previous") || old_info=
    for db in cookie product segment coview items; do
        n=$(value "$new_info" "count.$db")
        o=$(value "$old_info" "count.$db")
        if [ -z "$o" ] || [ "$o" -eq 0 ]; then
            continue
        fi
        if [ $(( n * 100 )) -lt $(( o * min_count_pct )) ]; then
            reject 7 gate_counts "$db records collapsed: $n against $o in $previous (need >= $min_count_pct%)" \
                db="$db" new_count="$n" previous_count="$o" previous="$previous" min_pct="$min_count_pct"
        fi
    done
    log info gate_counts_ok version="$new" previous="$previous" min_pct="$min_count_pct"
    for m in $metrics; do
        n=$(value "$new_info" "evaluation.$m")
        o=$(value "$old_info" "evaluation.$m")
        if [ -z "$n" ] || [ -z "$o" ]; then
            log warn gate_metric_skipped msg="metric missing from a manifest" metric="$m" new="${n:-absent}" \
                previous_value="${o:-absent}"
            continue
        fi
        if awk -v n="$n" -v o="$o" -v p="$max_metric_drop_pct" 'BEGIN { exit !(n < o * (100 - p) / 100) }'; then
            reject 8 gate_metric "$m dropped from $o to $n (allowed drop $max_metric_drop_pct%)" \
                metric="$m" new_value="$n" previous_value="$o" previous="$previous" max_drop_pct="$max_metric_drop_pct"
        fi
        log info gate_metric_ok metric="$m" new_value="$n" previous_value="$o"
    done
fi

# ---- 7. publish, prune (exit 9) ----
rc=0
pout=$("$recctl" publish --root "$root" -- "$new" 2>&1) || rc=$?
[ $rc -eq 0 ] || die 9 publish_failed msg="the version passed its checks but the flip failed; current unchanged" \
    version="$new" detail="$pout"
pruned=$("$recctl" prune --root "$root" --keep "$keep" 2>&1) || log warn prune_failed detail="$pruned"
log info published version="$new" previous="${previous:-none}" total_s=$(( $(date +%s) - t0 )) pruned="$pruned"
exit 0
