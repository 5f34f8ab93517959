# tests/e2e/ops_common.bash - helpers for the operations end-to-end scripts
# (recctl.sh, rebuild.sh, fleet.sh, rollout_rsyncd.sh, rollout_safety.sh;
# sourced, not run: tests/CMakeLists.txt runs e2e/*.sh only).
#
# Needs BIN and SRC (CMake build and source folders) and EDGEREC_TEST_TMP;
# exits 77 when recctl or mkcache (tests/ops_tools.cmake) is not built, or
# when a tool named in OPS_TOOLS (set before sourcing) is not installed.
# Provides: $recctl $mkcache $tmp (removed on exit unless KEEP_TMP is set),
# fail (runs the script's fail_extra first, if it defines one), ok, and
# cleanup_extra: a command the exit trap runs before removing $tmp.

: "${BIN:?BIN must name the CMake build folder}"
: "${SRC:?SRC must name the source folder}"
export LC_ALL=C

name=$(basename "$0" .sh)
recctl=$BIN/edge/recctl
mkcache=$BIN/tests/mkcache
for need in "$recctl" "$mkcache"; do
    if [ ! -x "$need" ]; then
        echo "$name: $need not built; skipped"
        exit 77
    fi
done
for tool in ${OPS_TOOLS:-}; do
    if ! command -v "$tool" > /dev/null; then
        echo "$name: $tool not installed; skipped"
        exit 77
    fi
done

mkdir -p "${EDGEREC_TEST_TMP:-/tmp}"
tmp=$(mktemp -d "${EDGEREC_TEST_TMP:-/tmp}/$name.XXXXXX")
cleanup_extra=:
cleanup() {
    $cleanup_extra
    [ -n "${KEEP_TMP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
    echo "$name: FAIL: $*" >&2
    if declare -F fail_extra > /dev/null; then
        fail_extra
    fi
    exit 1
}

ok() {
    echo "$name: ok: $*"
}
