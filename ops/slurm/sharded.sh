#!/usr/bin/env bash
# ops/slurm/sharded.sh - submit the sharded build (schemas/stages.md) to
# Slurm: the train stage, a job array of N score stages that waits for it,
# and the merge stage that waits for the whole array; prints the three job
# ids ("TRAIN ARRAY MERGE") on stdout and returns at once.
#
#   ops/slurm/sharded.sh --shards N --work DIR --logs DIR [--sbatch-flags "..."]
#                        [--script FILE] -- RECBUILD [recbuild flags...]
#
#   --shards N          score shards, the array's tasks 0..N-1 (at least 1)
#   --work DIR          the folder the stages share (recbuild --work); on a
#                       file system every node sees, at the same path
#   --logs DIR          the jobs' output and error files: build-JOB.out|err
#                       for train and merge, build-ARRAY_TASK.out|err for
#                       the shards
#   --sbatch-flags "…"  flags for every sbatch (split on spaces), e.g.
#                       "--partition=build --cpus-per-task=8 --mem=16G"
#   --script FILE       the batch script (default: stage.sbatch beside this one)
#
# The recbuild flags go to every stage unchanged (the merge also gets
# --shards N; --out, --no-flip and --keep matter to it only). Both
# dependencies are afterok with --kill-on-invalid-dep=yes: a failed train
# cancels the array and the merge, a failed shard cancels the merge, which
# then ends CANCELLED (reason DependencyNeverSatisfied) instead of waiting
# for ever; nothing is published. Wait on the merge job's state, as
# ops/rebuild.sh does. When a submission fails, the jobs already submitted
# are cancelled and this exits 1. Exit 2: bad usage.
set -euo pipefail

die() {
    echo "sharded.sh: $*" >&2
    exit "${code:-2}"
}
shards='' work='' logs='' flags='' script=$(dirname "$(readlink -f "$0")")/stage.sbatch
while [ $# -gt 0 ]; do
    case $1 in
        --shards) shards=${2:-}; shift 2 ;;
        --work) work=${2:-}; shift 2 ;;
        --logs) logs=${2:-}; shift 2 ;;
        --sbatch-flags) flags=${2:-}; shift 2 ;;
        --script) script=${2:-}; shift 2 ;;
        --) shift; break ;;
        *) die "unknown option '$1' (see the head of this script)" ;;
    esac
done
[[ $shards =~ ^[1-9][0-9]*$ ]] || die "--shards wants a count of 1 or more, not '$shards'"
if [ -z "$work" ] || [ -z "$logs" ]; then die "--work and --logs are required"; fi
[ $# -ge 1 ] || die "RECBUILD is missing after --"
[ -r "$script" ] || die "batch script '$script' not readable"
mkdir -p -- "$logs" "$work" || die "cannot create '$logs' or '$work'"

# shellcheck disable=SC2206 # sbatch flags are split on spaces on purpose
extra=($flags)
recbuild=$1
shift
submitted=()
code=1
submit() {
    local id
    id=$(sbatch --parsable "${extra[@]}" "$@" 2> "$logs/sbatch.err") || {
        [ ${#submitted[@]} -eq 0 ] || scancel -- "${submitted[@]}" 2>/dev/null || true
        die "sbatch refused a job ($(tail -n 3 -- "$logs/sbatch.err" | tr '\n' ' '));" \
            "cancelled ${submitted[*]:-nothing}"
    }
    id=${id%%;*}
    [[ $id =~ ^[0-9]+$ ]] || {
        [ ${#submitted[@]} -eq 0 ] || scancel -- "${submitted[@]}" 2>/dev/null || true
        die "sbatch did not print a job id: '$id'"
    }
    submitted+=("$id")
    printf '%s' "$id"
}

train=$(submit --job-name=edgerec-train --output="$logs/build-%j.out" --error="$logs/build-%j.err" \
    "$script" train "$recbuild" --work "$work" "$@")
submitted=("$train")
array=$(submit --job-name=edgerec-score --array="0-$((shards - 1))" \
    --dependency="afterok:$train" --kill-on-invalid-dep=yes \
    --output="$logs/build-%A_%a.out" --error="$logs/build-%A_%a.err" \
    "$script" score "$shards" "$recbuild" --work "$work" "$@")
submitted=("$train" "$array")
merge=$(submit --job-name=edgerec-merge --dependency="afterok:$array" --kill-on-invalid-dep=yes \
    --output="$logs/build-%j.out" --error="$logs/build-%j.err" \
    "$script" merge "$shards" "$recbuild" --work "$work" "$@")
echo "$train $array $merge"
