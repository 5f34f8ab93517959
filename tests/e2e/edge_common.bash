# tests/e2e/edge_common.bash - helpers for the recedge end-to-end scripts
# (sourced, not run: tests/CMakeLists.txt runs e2e/*.sh only).
#
# Needs BIN (CMake build folder) and EDGEREC_TEST_TMP; exits 77 when
# recedge, mkcache, curl or python3 is missing.

: "${BIN:?BIN must name the CMake build folder}"
export LC_ALL=C
# tests/e2e/rawhttp.py for the scripts' Python clients.
PYTHONPATH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONPATH

recedge=$BIN/edge/recedge
mkcache=$BIN/tests/mkcache
for need in "$recedge" "$mkcache"; do
    if [ ! -x "$need" ]; then
        echo "$(basename "$0"): $need not built; skipped"
        exit 77
    fi
done
for tool in curl python3; do
    command -v "$tool" > /dev/null || { echo "$(basename "$0"): $tool missing; skipped"; exit 77; }
done

mkdir -p "${EDGEREC_TEST_TMP:-/tmp}"
tmp=$(mktemp -d "${EDGEREC_TEST_TMP:-/tmp}/$(basename "$0" .sh).XXXXXX")
server_pid=
port=

cleanup() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2> /dev/null; then
        kill -KILL "$server_pid" 2> /dev/null || true
        wait "$server_pid" 2> /dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
    echo "$(basename "$0"): FAIL: $*" >&2
    if [ -f "$tmp/server.log" ]; then
        echo "--- server log (last 30 lines) ---" >&2
        tail -n 30 "$tmp/server.log" >&2
    fi
    exit 1
}

# start_server ROOT [recedge options...]: start on a free loopback port,
# set server_pid and port from the `listen` log line, and return once
# recedge has looked at `current` the first time (it logs swap, refuse or
# no_current; the listen line can come first).
start_server() {
    local root=$1
    shift
    : > "$tmp/server.log"
    "$recedge" --root "$root" --bind 127.0.0.1 --port 0 --threads 2 --poll-ms 100 "$@" 2>> "$tmp/server.log" &
    server_pid=$!
    local i
    port=
    for i in $(seq 1 200); do
        [ -n "$port" ] || port=$(sed -n 's/.*event=listen .*port=\([0-9][0-9]*\).*/\1/p' "$tmp/server.log" | head -n 1)
        [ -n "$port" ] && grep -qE 'event=(swap|refuse|no_current) ' "$tmp/server.log" && return 0
        kill -0 "$server_pid" 2> /dev/null || fail "recedge exited at start-up"
        sleep 0.05
    done
    [ -n "$port" ] || fail "recedge did not log its port"
    fail "recedge did not log its first look at current within 10 s"
}

# stop_server: SIGTERM, expect exit status 0.
stop_server() {
    kill -TERM "$server_pid"
    local rc=0
    wait "$server_pid" || rc=$?
    server_pid=
    [ "$rc" -eq 0 ] || fail "recedge exited with $rc after SIGTERM"
    grep -q 'event=exit status=0' "$tmp/server.log" || fail "no exit line in the log"
}

url() { printf 'http://127.0.0.1:%s%s' "$port" "$1"; }

# req METHOD PATH [curl args...]: body into $tmp/body, headers into
# $tmp/headers, status printed.
req() {
    local method=$1 path=$2
    shift 2
    local how=(-X "$method")
    [ "$method" = HEAD ] && how=(--head)
    curl -sS -o "$tmp/body" -D "$tmp/headers" -w '%{http_code}' "${how[@]}" "$@" "$(url "$path")"
}

# expect_status WANT METHOD PATH [curl args...]
expect_status() {
    local want=$1 got
    shift
    got=$(req "$@")
    [ "$got" = "$want" ] || fail "$1 $2: status $got, expected $want; body: $(head -c 300 "$tmp/body")"
}

# The body is valid JSON.
json_ok() {
    python3 -c 'import json,sys; json.load(sys.stdin)' < "$tmp/body" || fail "invalid JSON: $(head -c 300 "$tmp/body")"
}

# json_get EXPR: evaluate a Python expression over the body as `d`.
json_get() {
    python3 -c "import json,sys; d=json.load(sys.stdin); print($1)" < "$tmp/body"
}

# header NAME: the value of a response header (case-insensitive), CR removed.
header() {
    grep -i "^$1:" "$tmp/headers" | head -n 1 | cut -d: -f2- | sed 's/^ *//' | tr -d '\r'
}

# metric SERIES: the value of one exact series line of /metrics ("" if absent).
metric() {
    curl -sS "$(url /metrics)" | awk -v s="$1" 'index($0, s " ") == 1 { print $NF }'
}

# wait_until SECONDS CMD...: retry CMD every 0.1 s.
wait_until() {
    local limit=$1 i
    shift
    for i in $(seq 1 $((limit * 10))); do
        "$@" && return 0
        sleep 0.1
    done
    return 1
}

is_ready() { [ "$(curl -s -o /dev/null -w '%{http_code}' "$(url /readyz)")" = 200 ]; }

# serves_version V: /v1/version names V.
serves_version() {
    [ "$(curl -s "$(url /v1/version)" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("version",""))' 2> /dev/null)" = "$1" ]
}

# flip_to ROOT VERSION: point current at a version with an atomic rename.
flip_to() {
    ln -s "versions/$2" "$1/.current.e2e"
    mv -T "$1/.current.e2e" "$1/current"
}

# version V [mkcache flags]: write version V under $root whose only list
# is a global one holding the single product "from-V", so an answer names
# the version it came from; `current` points at it unless --no-flip.
version() {
    printf 'segment * * from-%s:1\n' "$1" | "$mkcache" --spec - --root "$root" --version "$1" --flip "${@:2}" \
        > /dev/null || fail "mkcache $1 failed"
}
