# tests/e2e/recbuild_common.bash - helpers for the recbuild end-to-end
# scripts (sourced, not run: tests/CMakeLists.txt runs e2e/*.sh only).
#
# Needs BIN (CMake build folder) and EDGEREC_TEST_TMP; exits 77 when
# recbuild, recgen or cachedump (tests/tools.cmake) is not built.
# Provides: $recbuild $recgen $cachedump $tmp, fail, ok, gen DIR ARGS...,
# dump ROOT DB [IDS] (TSV on stdout, see tests/cachedump.c), manifest_num
# FILE SECTION KEY, versions ROOT, current ROOT.

: "${BIN:?BIN must name the CMake build folder}"
export LC_ALL=C

name=$(basename "$0" .sh)
recbuild=$BIN/builder/recbuild
recgen=$BIN/builder/recgen
cachedump=$BIN/tests/cachedump
for need in "$recbuild" "$recgen" "$cachedump"; do
    if [ ! -x "$need" ]; then
        echo "$name: $need not built; skipped"
        exit 77
    fi
done

mkdir -p "${EDGEREC_TEST_TMP:-/tmp}"
tmp=$(mktemp -d "${EDGEREC_TEST_TMP:-/tmp}/$name.XXXXXX")
cleanup_extra=:
cleanup() {
    $cleanup_extra
    rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
    echo "$name: FAIL: $*" >&2
    exit 1
}

ok() {
    echo "$name: ok: $*"
}

# gen DIR [recgen flags...]: demo data, quietly.
gen() {
    local dir=$1
    shift
    "$recgen" --out "$dir" --log-level warn "$@" || fail "recgen exited with $?"
}

# dump ROOT DB [IDS_FILE]: the DB's lists (or items/meta) as TSV.
dump() {
    if [ $# -ge 3 ]; then
        "$cachedump" "$1" "$2" --ids "$3"
    else
        "$cachedump" "$1" "$2"
    fi
}

# manifest_num FILE SECTION KEY: a number from a one-line "SECTION": {...}
# member of manifest.json (recbuild writes each section on one line).
manifest_num() {
    sed -n "s/^ *\"$2\": {.*\"$3\": \([-0-9.e+]*\).*/\1/p" "$1" | head -n 1
}

# versions ROOT: the version ids under ROOT/versions, one a line.
versions() {
    ls "$1/versions" 2> /dev/null || true
}

# current ROOT: the version current points at ("" when none).
current() {
    local t
    t=$(readlink "$1/current" 2> /dev/null) || { echo ""; return; }
    basename "$t"
}

# float comparison: gt A B is true when A > B.
gt() {
    awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 > b + 0) }'
}
