# ops/lib/log.sh - what the ops scripts share, sourced after they set `prog`:
#   log LEVEL EVENT [key=value ...]  one logfmt line on stderr, event=$prog.EVENT;
#                                     values with spaces, quotes or '=' are quoted
#   die CODE EVENT [key=value ...]   log at level error with exit=CODE, then exit CODE
#   usage                            the calling script's header comment, up to `set -euo`
# shellcheck shell=bash
# shellcheck disable=SC2154 # prog is set by the sourcing script

log() { # log LEVEL EVENT [key=value ...]
    local level=$1 event=$2 kv out
    shift 2
    out="ts=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ) level=$level event=$prog.$event"
    for kv in "$@"; do
        local k=${kv%%=*} v=${kv#*=}
        if [[ $v =~ [[:space:]\"=] || -z $v ]]; then
            v=${v//\\/\\\\}
            v=${v//\"/\\\"}
            v=${v//$'\n'/ }
            v="\"$v\""
        fi
        out+=" $k=$v"
    done
    printf '%s\n' "$out" >&2
}

die() { # die CODE EVENT [key=value ...]
    local code=$1
    shift
    log error "$@" exit="$code"
    exit "$code"
}

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'
}
