#!/usr/bin/env bash
# ops/rollout.sh - push a published cache version to the edge fleet, roll it
# back, report which host serves what, or collect the nodes' exposure logs.
#
#   ops/rollout.sh push     --hosts FILE [--version V] [--src ROOT] [options]
#   ops/rollout.sh rollback --hosts FILE [--to V] [options]
#   ops/rollout.sh status   --hosts FILE [options]
#   ops/rollout.sh collect  --hosts FILE --dest DIR [--log-dir DIR] [options]
#   ops/rollout.sh push-overlay --hosts FILE [--overlay ID] [--src ROOT] [options]
#
# Hosts come from a file (--hosts FILE) and/or --host SPEC (repeatable), one
# host per line or SPEC:
#
#   NAME ROOT [http=ADDR:PORT] [ssh=TARGET] [rsync=URL] [log=DIR] [log-rsync=URL]
#
#   NAME   a label for logs and reports
#   ROOT   the cache root on that host (recedge --root there)
#   http=  recedge's address, for /readyz and /v1/version checks
#          (without it a host's serving state is not checked)
#   ssh=   run commands on the host with ssh TARGET (e.g. deploy@edge7);
#          without it the host is this machine and ROOT a local path
#   rsync= copy through an rsync daemon module that maps to ROOT
#          (e.g. rsync://edge7/edgerec; see ops/rsyncd.conf.example);
#          default: rsync over ssh=, or a local copy
#   log=   collect: the host's exposure-log directory (recedge
#          --exposure-log there); default --log-dir
#   log-rsync= collect: an rsync daemon module that maps to that directory
#          (e.g. rsync://edge7/edgerec-log; see ops/rsyncd.conf.example);
#          default: rsync over ssh=, or a local path
#   Blank lines and lines starting with # are ignored.
#
# Every field is checked before any host is touched (exit 2 otherwise), so
# that none can become a path outside ROOT or an option of ssh, rsync or
# recctl:
#   NAME    [A-Za-z0-9._-], not starting with '.' or '-'
#   ROOT    an absolute path of [A-Za-z0-9._/+@-]; no '.' or '..'
#           component, none starting with '-' (log= and --log-dir alike)
#   http=   HOST:PORT or [IPv6]:PORT
#   ssh=    [USER@]HOST (an ssh_config alias is a HOST)
#   rsync=, log-rsync=  rsync://[USER@]HOST[:PORT]/MODULE[/DIR...]
# where HOST, USER and each DIR are [A-Za-z0-9._-] starting with a letter,
# a digit or '_'. Version ids (--version, --to, --from, and what a host
# reports as its current) follow shared/layout.c's rule, 1..63 bytes of
# [A-Za-z0-9._-] not starting with '.', and here not with '-' either.
#
# push, per host: rsync <src>/versions/<V>/ (data.mdb, manifest.json) into
# <root>/.incoming/<V>/ (--partial: an interrupted copy resumes), then on the
# host `recctl publish --root ROOT --from ROOT/.incoming/V`: verify every
# byte and record, move into versions/, flip `current`. A copy that does not
# verify is deleted and the host keeps its version. With http=, the host
# must then serve V (/v1/version) within --swap-timeout, else its `current`
# is put back. The canary (the first host, or --canary NAME) goes first and
# alone; it must serve V and stay ready (/readyz) for --canary-wait seconds
# before the others start, --jobs at a time.
#
# rollback: the hosts that serve the fleet's newest version (or --from V)
# go back one version (`recctl rollback`: the newest older version that
# verifies); with --to V every host publishes V instead. Hosts already on an
# older version are left alone.
#
# push-overlay: the overlay (schemas/overlay.md: suppressed products) goes to
# every host at once, --jobs at a time, no canary: it is a small file and
# the point is seconds. Per host: rsync <src>/overlays/<ID>/ into
# <root>/.incoming/overlays/<ID>/ (the rsync module's writable area), then
# on the host `recctl overlay flip --root ROOT --from THAT_DIR ID`: verify
# the file (magic, format, checksum, sorted keys), move it to
# overlays/<ID>/, flip <root>/overlay, prune old overlays. A copy that does
# not verify is deleted and the host keeps its overlay.
# With http=, the host's recedge must then report the overlay in /metrics
# (recedge_overlay_info{id="ID"}) within --swap-timeout. ID defaults to the
# overlay <src>/overlay names (`recctl overlay set` on the build host).
#
# status: each host's `current` on disk and, with http=, the version recedge
# serves and whether it is ready.
#
# collect, per host: rsync the closed exposure-log files (*.jsonl directly
# in the log directory; never *.jsonl.open, which recedge still writes, nor
# anything else) into DEST/<name>/, with --remove-source-files: rsync
# checks each file it copies against the sender's whole-file checksum
# (sending it again once when that differs), renames it into place, and
# only then has the node remove it. With --checksum, a file already in
# DEST/<name>/ (a run interrupted after the copy, before the removal) is
# compared by content: the same, and the node's copy is just removed;
# different, and it is copied again, the older one kept as
# NAME.replaced-<time>~. So a rerun after an interruption anywhere neither
# loses nor duplicates a file: DEST/<name>/*.jsonl holds each closed file
# once, under the name the node gave it. rsync writes into a temporary
# name (.NAME.XXXXXX) and renames, so no *.jsonl in DEST is ever partial;
# one left by a collect killed with SIGKILL is removed by the next. A lock
# (flock on DEST/.collect.lock) keeps two collects out of one DEST.
#
# What is copied: regular files and directories only. rsync runs as
# `-a --no-links --no-devices --no-specials` (-a without -l and -D), so a
# symlink, FIFO, socket or device node in the source version is skipped
# rather than recreated on the edges; the publish then refuses a copy that
# lacks a listed file.
#
# Time limits: every command run on a host over ssh, and every rsync, is
# stopped after --host-timeout seconds (timeout(1), then SIGKILL 10 s
# later); ssh gives up on a connection after 10 s and on a silent peer after
# 60 s (ServerAliveInterval 15 x 4); rsync after 120 s without I/O and, for
# rsync= hosts, 20 s to connect to the daemon; curl after 2 s.
#
# Options:
#   --hosts FILE         host list (see above)
#   --host SPEC          one host, as a line of the host list (repeatable)
#   --src ROOT           build-side cache root (default: $EDGEREC_ROOT)
#   --version V          push V (default: the version <src>/current names)
#   --canary NAME        host that goes first (default: the first host);
#                        "none": every host at once (emergencies only)
#   --canary-wait S      seconds the canary must stay ready serving V (default 30)
#   --swap-timeout S     seconds a host's recedge may take to serve V (default 30)
#   --jobs N, -j N       hosts copied at once after the canary (default 4)
#   --bwlimit RATE       rsync --bwlimit per host, e.g. 50M
#   --keep K             versions kept on each host after a push (default 5; 0: no pruning)
#   --to V               rollback: publish V on every host
#   --from V             rollback: roll back the hosts on V (default: the newest current)
#   --recctl PATH        recctl on this machine (default: $EDGEREC_BIN/recctl, or PATH)
#   --remote-recctl PATH recctl on ssh hosts (default: recctl)
#   --ssh "CMD"          ssh command (default: ssh -o BatchMode=yes -o ConnectTimeout=10
#                        -o ServerAliveInterval=15 -o ServerAliveCountMax=4); it is run
#                        as CMD -- TARGET COMMAND
#   --host-timeout S     seconds any one ssh command or rsync may run (default 1800)
#   --dest DIR           collect: where the logs go, DIR/<name>/ per host (made if missing)
#   --log-dir DIR        collect: the exposure-log directory of hosts without log=
#   --overlay ID         push-overlay: the overlay to push (default: the one <src>/overlay names)
#
# Exit codes:
#   0  every host did what was asked (status: every host serves its current and is ready;
#      collect: every closed log file of every host is in DEST and gone from the host)
#   1  one or more hosts failed (each is named in the report); the rest succeeded
#   2  usage or configuration error
#   3  push: the canary failed; no other host was touched
#   4  push: the version does not verify at the source; nothing was copied
#
# Test hook (tests/e2e/fleet.sh only; never set in production):
#   EDGEREC_ROLLOUT_FAULT=truncate|corrupt damages the staged data.mdb after
#   rsync on local hosts (those named in EDGEREC_ROLLOUT_FAULT_HOSTS, or all),
#   to prove that a copy damaged in transit is refused.
set -euo pipefail
export LC_ALL=C

prog=rollout

# log, die, usage (installed beside this script as lib/log.sh)
# shellcheck source=ops/lib/log.sh
source "$(dirname "$(readlink -f "$0")")/lib/log.sh"

# ---- options ----
cmd=${1:-}
case $cmd in
    push|rollback|status|collect|push-overlay) shift ;;
    -h|--help|help) usage; exit 0 ;;
    *) echo "usage: ops/rollout.sh push|rollback|status|collect|push-overlay --hosts FILE [options] (see --help)" >&2; exit 2 ;;
esac

hosts_file=
host_specs=()
src=${EDGEREC_ROOT:-}
version=
canary=
canary_wait=30
swap_timeout=30
jobs=4
bwlimit=
keep=5
to=
from=
recctl=${EDGEREC_RECCTL:-}
remote_recctl=recctl
ssh_cmd="ssh -o BatchMode=yes -o ConnectTimeout=10 -o ServerAliveInterval=15 -o ServerAliveCountMax=4"
host_timeout=1800
dest=
log_dir=
overlay=

while [ $# -gt 0 ]; do
    opt=$1
    case $opt in
        -h|--help) usage; exit 0 ;;
    esac
    [ $# -ge 2 ] || die 2 usage msg="option $opt needs a value (see --help)"
    case $opt in
        --hosts) hosts_file=$2 ;;
        --host) host_specs+=("$2") ;;
        --src) src=$2 ;;
        --version) version=$2 ;;
        --canary) canary=$2 ;;
        --canary-wait) canary_wait=$2 ;;
        --swap-timeout) swap_timeout=$2 ;;
        --jobs|-j) jobs=$2 ;;
        --bwlimit) bwlimit=$2 ;;
        --keep) keep=$2 ;;
        --to) to=$2 ;;
        --from) from=$2 ;;
        --recctl) recctl=$2 ;;
        --remote-recctl) remote_recctl=$2 ;;
        --ssh) ssh_cmd=$2 ;;
        --host-timeout) host_timeout=$2 ;;
        --dest) dest=$2 ;;
        --log-dir) log_dir=$2 ;;
        --overlay) overlay=$2 ;;
        *) die 2 usage msg="unknown option $opt (see --help)" ;;
    esac
    shift 2
done

for n in "$canary_wait" "$swap_timeout" "$jobs" "$keep" "$host_timeout"; do
    [[ $n =~ ^[0-9]+$ ]] || die 2 usage msg="'$n' is not a whole number"
done
[ "$jobs" -ge 1 ] || die 2 usage msg="--jobs must be at least 1"
[ "$host_timeout" -ge 1 ] || die 2 usage msg="--host-timeout must be at least 1"

# ---- what names and paths may be (see the header) ----
# A version id: shared/layout.c's rc_version_valid (1..63 bytes of
# [A-Za-z0-9._-], not starting with '.'), and not starting with '-', so that
# it is never a path outside versions/ or .incoming/ nor read as an option.
valid_version() { [[ $1 =~ ^[A-Za-z0-9_][A-Za-z0-9._-]{0,62}$ ]]; }
# One name or path component: no '.', '..' or leading '-'.
name_re='[A-Za-z0-9_][A-Za-z0-9._-]*'
valid_root() {
    [[ $1 =~ ^/[A-Za-z0-9._/+@-]+$ ]] && [[ $1/ != */./* && $1/ != */../* && $1 != */-* ]]
}
valid_http() { [[ $1 =~ ^($name_re|\[[0-9A-Fa-f:.]+\]):[0-9]{1,5}$ ]]; }
valid_ssh() { [[ $1 =~ ^($name_re@)?$name_re$ ]]; }
valid_rsync() { [[ $1 =~ ^rsync://($name_re@)?$name_re(:[0-9]{1,5})?(/$name_re)+/?$ ]]; }
for v in "$version" "$to" "$from" "$overlay"; do
    [ -z "$v" ] || valid_version "$v" || die 2 usage msg="not a valid version id" version="$v"
done
[ -z "$log_dir" ] || valid_root "$log_dir" ||
    die 2 usage msg="--log-dir must be an absolute path of [A-Za-z0-9._/+@-] without '.' or '..' components" dir="$log_dir"
if [ -n "$dest" ] && [[ $dest != /* ]]; then
    dest=$PWD/$dest # a relative path with ':' would be an rsync remote
fi
if [ -n "$src" ] && [[ $src != /* ]]; then
    src=$PWD/$src # a relative path with ':' would be an rsync remote
fi
if [ -z "$recctl" ]; then
    if [ -n "${EDGEREC_BIN:-}" ]; then
        recctl=$EDGEREC_BIN/recctl
    else
        recctl=$(command -v recctl || echo recctl)
    fi
fi

# ---- the host list: parallel arrays indexed by host number ----
H_NAME=() H_ROOT=() H_HTTP=() H_SSH=() H_RSYNC=() H_LOG=() H_LOGRSYNC=()
add_host() { # add_host LINE
    local line=$1 name root field http='' sshT='' rsyncU='' logD='' logU=''
    line=${line%%#*}
    read -r -a fields <<< "$line" || true
    [ ${#fields[@]} -gt 0 ] || return 0
    [ ${#fields[@]} -ge 2 ] || die 2 hosts msg="a host needs NAME and ROOT" line="$1"
    name=${fields[0]} root=${fields[1]}
    for field in "${fields[@]:2}"; do
        case $field in
            http=*) http=${field#http=} ;;
            ssh=*) sshT=${field#ssh=} ;;
            rsync=*) rsyncU=${field#rsync=} ;;
            log=*) logD=${field#log=} ;;
            log-rsync=*) logU=${field#log-rsync=} ;;
            *) die 2 hosts msg="unknown host field (want http=, ssh=, rsync=, log=, log-rsync=)" field="$field" host="$name" ;;
        esac
    done
    [[ $name =~ ^$name_re$ ]] || die 2 hosts msg="host names are [A-Za-z0-9._-], not starting with '.' or '-'" host="$name"
    valid_root "$root" ||
        die 2 hosts msg="ROOT must be an absolute path of [A-Za-z0-9._/+@-] without '.' or '..' components" host="$name" root="$root"
    [ -z "$http" ] || valid_http "$http" || die 2 hosts msg="http= wants HOST:PORT" host="$name" http="$http"
    [ -z "$sshT" ] || valid_ssh "$sshT" || die 2 hosts msg="ssh= wants [USER@]HOST" host="$name" ssh="$sshT"
    [ -z "$rsyncU" ] || valid_rsync "$rsyncU" ||
        die 2 hosts msg="rsync= wants rsync://[USER@]HOST[:PORT]/MODULE" host="$name" rsync="$rsyncU"
    [ -z "$logD" ] || valid_root "$logD" ||
        die 2 hosts msg="log= must be an absolute path of [A-Za-z0-9._/+@-] without '.' or '..' components" host="$name" log="$logD"
    [ -z "$logU" ] || valid_rsync "$logU" ||
        die 2 hosts msg="log-rsync= wants rsync://[USER@]HOST[:PORT]/MODULE" host="$name" log_rsync="$logU"
    local i
    for i in "${!H_NAME[@]}"; do
        [ "${H_NAME[$i]}" != "$name" ] || die 2 hosts msg="host named twice" host="$name"
    done
    H_NAME+=("$name") H_ROOT+=("$root") H_HTTP+=("$http") H_SSH+=("$sshT") H_RSYNC+=("$rsyncU")
    H_LOG+=("$logD") H_LOGRSYNC+=("$logU")
}
if [ -n "$hosts_file" ]; then
    [ -r "$hosts_file" ] || die 2 hosts msg="host list not readable" file="$hosts_file"
    while IFS= read -r line || [ -n "$line" ]; do
        add_host "$line"
    done < "$hosts_file"
fi
for spec in "${host_specs[@]}"; do
    add_host "$spec"
done
[ ${#H_NAME[@]} -gt 0 ] || die 2 usage msg="no hosts: give --hosts FILE or --host SPEC"

# ---- running things on a host ----
# limited CMD... - CMD, stopped after --host-timeout seconds (exit 124).
limited() { timeout -k 10 "$host_timeout" "$@"; }

# on_host I CMD... - run CMD on host I (locally, or through ssh with each
# word quoted for the remote shell, within --host-timeout).
on_host() {
    local i=$1
    shift
    if [ -z "${H_SSH[$i]}" ]; then
        "$@"
    else
        local q
        q=$(printf '%q ' "$@")
        # shellcheck disable=SC2086 # ssh_cmd is a command line
        limited $ssh_cmd -- "${H_SSH[$i]}" "$q"
    fi
}

# recctl on host I
host_recctl() {
    local i=$1
    shift
    if [ -z "${H_SSH[$i]}" ]; then
        "$recctl" "$@"
    else
        on_host "$i" "$remote_recctl" "$@"
    fi
}

# The version host I's `current` names; empty when none, or when what the
# host answers is not a version id (it is then never passed on).
host_current() {
    local v
    v=$(host_recctl "$1" current --root "${H_ROOT[$1]}" 2>/dev/null || true)
    if [ -n "$v" ] && ! valid_version "$v"; then
        log warn bad_current host="${H_NAME[$1]}" msg="the host reports a current that is not a version id; ignored"
        v=
    fi
    printf '%s\n' "$v"
}

# The version recedge on host I serves (empty when it does not answer).
served_version() {
    local i=$1
    [ -n "${H_HTTP[$i]}" ] || return 0
    curl -fsS --max-time 2 "http://${H_HTTP[$i]}/v1/version" 2>/dev/null |
        sed -n 's/^{"version":"\([^"]*\)".*/\1/p' || true
}

ready_code() {
    local i=$1
    [ -n "${H_HTTP[$i]}" ] || { echo "-"; return 0; }
    curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://${H_HTTP[$i]}/readyz" 2>/dev/null || true
}

# wait_serving I V SECONDS - 0 once host I serves V and is ready
wait_serving() {
    local i=$1 v=$2 deadline=$(( $(date +%s) + $3 ))
    [ -n "${H_HTTP[$i]}" ] || return 0
    while :; do
        if [ "$(served_version "$i")" = "$v" ] && [ "$(ready_code "$i")" = 200 ]; then
            return 0
        fi
        [ "$(date +%s)" -lt "$deadline" ] || return 1
        sleep 0.5
    done
}

# ---- per-host results ----
state_dir=$(mktemp -d "${TMPDIR:-/tmp}/edgerec-rollout.XXXXXX")
trap 'rm -rf "$state_dir"' EXIT
result() { # result I ok|failed MESSAGE
    printf '%s %s\n' "$2" "$3" > "$state_dir/${H_NAME[$1]}"
    if [ "$2" = ok ]; then
        log info host_ok host="${H_NAME[$1]}" action="$cmd" detail="$3"
    else
        log error host_failed host="${H_NAME[$1]}" action="$cmd" reason="$3"
    fi
}

# Run FUNC for the given host indices, at most $jobs at a time.
parallel() {
    local func=$1 running=0 i
    shift
    for i in "$@"; do
        "$func" "$i" &
        running=$((running + 1))
        if [ $running -ge "$jobs" ]; then
            wait -n || true
            running=$((running - 1))
        fi
    done
    wait || true
}

report() { # report INDICES... - print the results; return 1 if any failed
    local i failed=0 r
    printf '%-16s %-8s %s\n' HOST RESULT DETAIL
    for i in "$@"; do
        r=$(cat "$state_dir/${H_NAME[$i]}" 2>/dev/null || echo "failed no result (the host's job died)")
        printf '%-16s %-8s %s\n' "${H_NAME[$i]}" "${r%% *}" "${r#* }"
        [ "${r%% *}" = ok ] || failed=1
    done
    return $failed
}

# ---- push ----
# Test hook: damage the staged copy (see the header).
fault_hook() {
    local i=$1 dir=$2 f=${EDGEREC_ROLLOUT_FAULT:-}
    [ -n "$f" ] && [ -z "${H_SSH[$i]}" ] || return 0
    if [ -n "${EDGEREC_ROLLOUT_FAULT_HOSTS:-}" ]; then
        [[ " $EDGEREC_ROLLOUT_FAULT_HOSTS " == *" ${H_NAME[$i]} "* ]] || return 0
    fi
    local size
    size=$(stat -c %s -- "$dir/data.mdb")
    case $f in
        truncate) truncate -s $((size / 2)) -- "$dir/data.mdb" ;;
        corrupt) printf '\x5a' | dd of="$dir/data.mdb" bs=1 seek=$((size / 2)) conv=notrunc status=none ;;
        *) log warn fault_unknown fault="$f" ;;
    esac
    log warn test_fault_injected host="${H_NAME[$i]}" fault="$f" file="$dir/data.mdb"
}

copy_to_host() { # copy_to_host I - rsync the version into <root>/.incoming/<V>/
    local i=$1 root=${H_ROOT[$1]} dest
    # -a without links, devices and specials: regular files and directories only
    local args=(-a --no-links --no-devices --no-specials --partial --timeout=120)
    [ -z "$bwlimit" ] || args+=(--bwlimit="$bwlimit")
    if [ -n "${H_RSYNC[$i]}" ]; then
        dest=${H_RSYNC[$i]%/}/.incoming/$version/
        args+=(--contimeout=20)
        # rsync makes the last directory only; .incoming may not exist yet
        on_host "$i" mkdir -p -- "$root/.incoming"
    elif [ -n "${H_SSH[$i]}" ]; then
        on_host "$i" mkdir -p -- "$root/.incoming"
        args+=(-e "$ssh_cmd")
        dest=${H_SSH[$i]}:$root/.incoming/$version/
    else
        mkdir -p -- "$root/.incoming"
        dest=$root/.incoming/$version/
    fi
    limited rsync "${args[@]}" -- "$src/versions/$version/" "$dest"
}

deploy() { # deploy I - runs in its own subshell
    local i=$1 name=${H_NAME[$1]} root=${H_ROOT[$1]} prev out t0
    t0=$(date +%s)
    prev=$(host_current "$i")
    printf '%s\n' "$prev" > "$state_dir/$name.prev"
    if [ "$prev" = "$version" ]; then
        if wait_serving "$i" "$version" "$swap_timeout"; then
            result "$i" ok "already current"
        else
            result "$i" failed "current is $version on disk but recedge does not serve it"
        fi
        return 0
    fi
    log info host_start host="$name" version="$version" previous="${prev:-none}"
    if on_host "$i" test -d "$root/versions/$version"; then
        # Installed earlier (e.g. rolled back from): verify and flip.
        if ! out=$(host_recctl "$i" publish --root "$root" -- "$version" 2>&1); then
            result "$i" failed "installed copy refused: $(printf '%s' "$out" | tail -n 2 | tr '\n' ' ')"
            return 0
        fi
    else
        if ! out=$(copy_to_host "$i" 2>&1); then
            result "$i" failed "rsync failed: $(printf '%s' "$out" | tail -n 2 | tr '\n' ' ')"
            return 0
        fi
        fault_hook "$i" "$root/.incoming/$version"
        if ! out=$(host_recctl "$i" publish --root "$root" --from "$root/.incoming/$version" 2>&1); then
            on_host "$i" rm -rf -- "$root/.incoming/$version" || true
            result "$i" failed "refused, keeps ${prev:-no version}: $(printf '%s' "$out" | grep -v '^recctl: publish: .* does not verify$' | head -n 2 | tr '\n' ' ')"
            return 0
        fi
    fi
    if ! wait_serving "$i" "$version" "$swap_timeout"; then
        local served
        served=$(served_version "$i")
        if [ -n "$prev" ]; then
            host_recctl "$i" publish --root "$root" -- "$prev" > /dev/null 2>&1 || true
        fi
        result "$i" failed "recedge did not serve $version within ${swap_timeout}s (serves ${served:-nothing}); current put back to ${prev:-none}"
        return 0
    fi
    if [ "$keep" -gt 0 ]; then
        host_recctl "$i" prune --root "$root" --keep "$keep" > /dev/null 2>&1 ||
            log warn prune_failed host="$name"
    fi
    result "$i" ok "now $version (was ${prev:-none}) in $(( $(date +%s) - t0 ))s"
}

do_push() {
    [ -n "$src" ] || die 2 usage msg="no source root: give --src or set EDGEREC_ROOT"
    [ -x "$recctl" ] || die 2 config msg="recctl not found" path="$recctl"
    if [ -z "$version" ]; then
        version=$("$recctl" current --root "$src") || die 2 config msg="no version given and the source has no current" src="$src"
        valid_version "$version" || die 2 config msg="the source's current is not a version id" version="$version"
    fi
    local out
    out=$("$recctl" verify --root "$src" -- "$version" 2>&1) ||
        die 4 source_bad msg="the version does not verify at the source; nothing copied" version="$version" \
            detail="$(printf '%s' "$out" | tail -n 2)"
    local c=0 i rest=()
    if [ "$canary" = none ]; then
        c=-1
    elif [ -n "$canary" ]; then
        c=-1
        for i in "${!H_NAME[@]}"; do
            [ "${H_NAME[$i]}" != "$canary" ] || c=$i
        done
        [ "$c" -ge 0 ] || die 2 usage msg="--canary names no listed host" canary="$canary"
    fi
    for i in "${!H_NAME[@]}"; do
        [ "$i" -eq "$c" ] || rest+=("$i")
    done
    if [ "$c" -lt 0 ]; then
        log warn start version="$version" hosts=${#H_NAME[@]} canary=none jobs="$jobs" \
            msg="no canary: every host at once"
        parallel deploy "${rest[@]}"
        if report "${rest[@]}"; then
            log info finished version="$version" hosts=${#H_NAME[@]}
            return 0
        fi
        log error finished version="$version" msg="some hosts failed; they keep their previous version"
        return 1
    fi
    log info start version="$version" hosts=${#H_NAME[@]} canary="${H_NAME[$c]}" jobs="$jobs"

    deploy "$c"
    if [ "$(cut -d' ' -f1 "$state_dir/${H_NAME[$c]}")" = ok ] && [ -n "${H_HTTP[$c]}" ] && [ "$canary_wait" -gt 0 ]; then
        log info canary_watch host="${H_NAME[$c]}" seconds="$canary_wait"
        local end=$(( $(date +%s) + canary_wait ))
        while [ "$(date +%s)" -lt "$end" ]; do
            if [ "$(served_version "$c")" != "$version" ] || [ "$(ready_code "$c")" != 200 ]; then
                local before
                before=$(cat "$state_dir/${H_NAME[$c]}.prev" 2>/dev/null || true)
                [ -z "$before" ] || host_recctl "$c" publish --root "${H_ROOT[$c]}" -- "$before" > /dev/null 2>&1 || true
                result "$c" failed "stopped serving $version or became unready while watched; current put back to ${before:-none}"
                break
            fi
            sleep 1
        done
    fi
    if [ "$(cut -d' ' -f1 "$state_dir/${H_NAME[$c]}")" != ok ]; then
        report "$c" || true
        die 3 canary_failed msg="the canary failed; no other host was touched" host="${H_NAME[$c]}" version="$version"
    fi
    [ ${#rest[@]} -eq 0 ] || parallel deploy "${rest[@]}"
    if report "$c" "${rest[@]}"; then
        log info finished version="$version" hosts=${#H_NAME[@]}
        return 0
    fi
    log error finished version="$version" msg="some hosts failed; they keep their previous version"
    return 1
}

# ---- push-overlay ----
# served_overlay I ID - 0 once recedge on host I reports overlay ID loaded
served_overlay() {
    local i=$1
    [ -n "${H_HTTP[$i]}" ] || return 0
    curl -fsS --max-time 2 "http://${H_HTTP[$i]}/metrics" 2>/dev/null |
        grep -qF "recedge_overlay_info{id=\"$2\"} 1"
}

overlay_to_host() { # overlay_to_host I - runs in its own subshell
    local i=$1 root=${H_ROOT[$1]} dest out t0
    t0=$(date +%s)
    # into .incoming/overlays/<ID>/, the only place the rsync module takes
    local args=(-a --no-links --no-devices --no-specials --timeout=120)
    [ -z "$bwlimit" ] || args+=(--bwlimit="$bwlimit")
    if [ -n "${H_RSYNC[$i]}" ]; then
        dest=${H_RSYNC[$i]%/}/.incoming/overlays/$overlay/
        args+=(--contimeout=20)
        on_host "$i" mkdir -p -- "$root/.incoming/overlays"
    elif [ -n "${H_SSH[$i]}" ]; then
        on_host "$i" mkdir -p -- "$root/.incoming/overlays"
        args+=(-e "$ssh_cmd")
        dest=${H_SSH[$i]}:$root/.incoming/overlays/$overlay/
    else
        mkdir -p -- "$root/.incoming/overlays"
        dest=$root/.incoming/overlays/$overlay/
    fi
    if ! out=$(limited rsync "${args[@]}" -- "$src/overlays/$overlay/" "$dest" 2>&1); then
        result "$i" failed "rsync failed: $(printf '%s' "$out" | tail -n 2 | tr '\n' ' ')"
        return 0
    fi
    if ! out=$(host_recctl "$i" overlay --root "$root" flip --from "$root/.incoming/overlays/$overlay" -- "$overlay" 2>&1); then
        on_host "$i" rm -rf -- "$root/.incoming/overlays/$overlay" || true
        result "$i" failed "refused, keeps its overlay: $(printf '%s' "$out" | tail -n 2 | tr '\n' ' ')"
        return 0
    fi
    local deadline=$(( $(date +%s) + swap_timeout ))
    until served_overlay "$i" "$overlay"; do
        if [ "$(date +%s)" -ge "$deadline" ]; then
            result "$i" failed "recedge did not load overlay $overlay within ${swap_timeout}s"
            return 0
        fi
        sleep 0.2
    done
    result "$i" ok "overlay $overlay in $(( $(date +%s) - t0 ))s"
}

do_push_overlay() {
    [ -n "$src" ] || die 2 usage msg="no source root: give --src or set EDGEREC_ROOT"
    [ -x "$recctl" ] || die 2 config msg="recctl not found" path="$recctl"
    if [ -z "$overlay" ]; then
        overlay=$(readlink -- "$src/overlay" 2>/dev/null) || die 2 config msg="no overlay given and the source has none (recctl overlay set)" src="$src"
        overlay=${overlay##*/}
        valid_version "$overlay" || die 2 config msg="the source's overlay link names no overlay id" overlay="$overlay"
    fi
    [ -f "$src/overlays/$overlay/overlay.bin" ] || die 2 config msg="no such overlay at the source" overlay="$overlay" src="$src"
    log info start action=push-overlay overlay="$overlay" hosts=${#H_NAME[@]} jobs="$jobs"
    parallel overlay_to_host "${!H_NAME[@]}"
    if report "${!H_NAME[@]}"; then
        log info finished action=push-overlay overlay="$overlay"
        return 0
    fi
    log error finished action=push-overlay msg="some hosts failed; they keep their previous overlay"
    return 1
}

# ---- rollback ----
roll_back_one() {
    local i=$1 name=${H_NAME[$1]} root=${H_ROOT[$1]} cur out now
    cur=$(host_current "$i")
    if [ -n "$to" ]; then
        if [ "$cur" = "$to" ]; then
            result "$i" ok "already on $to"
            return 0
        fi
        out=$(host_recctl "$i" publish --root "$root" -- "$to" 2>&1) || {
            result "$i" failed "cannot publish $to: $(printf '%s' "$out" | tail -n 2 | tr '\n' ' ')"
            return 0
        }
    elif [ "$cur" != "$from" ]; then
        result "$i" ok "left on ${cur:-none} (not on $from)"
        return 0
    else
        out=$(host_recctl "$i" rollback --root "$root" 2>&1) || {
            result "$i" failed "rollback refused: $(printf '%s' "$out" | tail -n 2 | tr '\n' ' ')"
            return 0
        }
    fi
    now=$(host_current "$i")
    if ! wait_serving "$i" "$now" "$swap_timeout"; then
        result "$i" failed "current is $now but recedge does not serve it within ${swap_timeout}s"
        return 0
    fi
    result "$i" ok "now $now (was ${cur:-none})"
}

do_rollback() {
    [ -x "$recctl" ] || [ -n "${H_SSH[0]}" ] || die 2 config msg="recctl not found" path="$recctl"
    local i
    if [ -z "$to" ] && [ -z "$from" ]; then
        from=$(for i in "${!H_NAME[@]}"; do host_current "$i"; echo; done | sed '/^$/d' | sort -V | tail -n 1)
        [ -n "$from" ] || die 1 rollback msg="no host has a current version"
    fi
    log info start action=rollback from="${from:-any}" to="${to:-previous}" hosts=${#H_NAME[@]}
    parallel roll_back_one "${!H_NAME[@]}"
    if report "${!H_NAME[@]}"; then
        return 0
    fi
    return 1
}

# ---- status ----
do_status() {
    local i cur served ready state bad=0
    printf '%-16s %-22s %-22s %-6s %s\n' HOST CURRENT SERVED READY STATE
    for i in "${!H_NAME[@]}"; do
        cur=$(host_current "$i")
        served=- ready=-
        if [ -n "${H_HTTP[$i]}" ]; then
            served=$(served_version "$i")
            ready=$(ready_code "$i")
            served=${served:-down}
        fi
        if [ -z "$cur" ]; then
            state="no current"
        elif [ -z "${H_HTTP[$i]}" ]; then
            state="ok (serving not checked)"
        elif [ "$served" = down ]; then
            state="recedge not answering"
        elif [ "$served" != "$cur" ]; then
            state="MISMATCH: serves $served, current is $cur"
        elif [ "$ready" != 200 ]; then
            state="not ready ($ready)"
        else
            state=ok
        fi
        [[ $state == ok* ]] || bad=1
        printf '%-16s %-22s %-22s %-6s %s\n' "${H_NAME[$i]}" "${cur:--}" "$served" "${ready:--}" "$state"
    done
    return $bad
}

# ---- collect ----
collect_from_host() { # collect_from_host I - runs in its own subshell
    local i=$1 name=${H_NAME[$1]} from out rc=0 files bytes
    local into=$dest/$name
    # Closed files only: *.jsonl directly in the log directory. --checksum:
    # a file already here is compared by content (see the header).
    local args=(-rt --checksum --no-links --no-devices --no-specials --include='/*.jsonl' --exclude='*'
        --remove-source-files --backup --suffix=".replaced-$collect_stamp~" --timeout=120 --out-format='%l %n')
    [ -z "$bwlimit" ] || args+=(--bwlimit="$bwlimit")
    if [ -n "${H_LOGRSYNC[$i]}" ]; then
        from=${H_LOGRSYNC[$i]%/}/
        args+=(--contimeout=20)
    elif [ -n "${H_SSH[$i]}" ]; then
        args+=(-e "$ssh_cmd")
        from=${H_SSH[$i]}:${H_LOG[$i]:-$log_dir}/
    else
        from=${H_LOG[$i]:-$log_dir}/
    fi
    if ! mkdir -p -- "$into"; then
        result "$i" failed "cannot make $into"
        return 0
    fi
    # What a collect killed mid-file (SIGKILL) left: rsync's temporary
    # .NAME.XXXXXX. The lock keeps any other collect out, so none is in use.
    find "$into" -maxdepth 1 -type f -name '.*.jsonl.??????' -delete 2> /dev/null || true
    out=$(limited rsync "${args[@]}" -- "$from" "$into/" 2>&1) || rc=$?
    files=$(printf '%s\n' "$out" | grep -c '^[0-9][0-9]* .*\.jsonl$' || true)
    bytes=$(printf '%s\n' "$out" | awk '/^[0-9]+ .*\.jsonl$/ { s += $1 } END { print s + 0 }')
    if [ "$rc" -ne 0 ]; then
        result "$i" failed "rsync exited $rc after $files files; what did not arrive stays on the host: $(printf '%s' "$out" | grep -v '^[0-9][0-9]* ' | tail -n 2 | tr '\n' ' ')"
        return 0
    fi
    result "$i" ok "$files files, $bytes bytes into $into"
}

do_collect() {
    [ -n "$dest" ] || die 2 usage msg="collect needs --dest DIR"
    local i
    for i in "${!H_NAME[@]}"; do
        [ -n "${H_LOGRSYNC[$i]}" ] || [ -n "${H_LOG[$i]}" ] || [ -n "$log_dir" ] ||
            die 2 usage msg="no log directory for a host: give --log-dir, or log= or log-rsync= on its line" host="${H_NAME[$i]}"
    done
    command -v flock > /dev/null || die 2 config msg="flock (util-linux) not found"
    mkdir -p -- "$dest" || die 2 config msg="cannot make the destination" dest="$dest"
    exec 9> "$dest/.collect.lock" || die 2 config msg="cannot write the lock file" file="$dest/.collect.lock"
    flock -n 9 || die 1 locked msg="another collect is writing into this destination" dest="$dest"
    collect_stamp=$(date -u +%Y%m%dT%H%M%SZ)
    log info start action=collect hosts=${#H_NAME[@]} dest="$dest" jobs="$jobs"
    parallel collect_from_host "${!H_NAME[@]}"
    if report "${!H_NAME[@]}"; then
        log info finished action=collect dest="$dest"
        return 0
    fi
    log error finished action=collect msg="some hosts failed; their files that did not arrive stay on them; rerun"
    return 1
}

case $cmd in
    push) do_push ;;
    rollback) do_rollback ;;
    status) do_status ;;
    collect) do_collect ;;
    push-overlay) do_push_overlay ;;
esac
