#!/usr/bin/env bash
# tests/e2e/smoke.sh - recgen writes a tiny demo data set in the formats of
# schemas/inputs.md: events.csv, catalog.csv, emb.npy and emb_ids.txt with
# the documented headers, an embedding matrix whose rows match its ids, and
# recgen.json last.
#
# Environment (set by tests/CMakeLists.txt): BIN, the CMake build folder;
# SRC, the source folder; EDGEREC_TEST_TMP, where tests may write.
# Exits 77 (skipped) while recgen is not built.
set -euo pipefail
export LC_ALL=C

: "${BIN:?BIN must name the CMake build folder}"
: "${SRC:?SRC must name the source folder}"
recgen=$BIN/builder/recgen
if [ ! -x "$recgen" ]; then
    echo "smoke: $recgen not built; skipped"
    exit 77
fi

mkdir -p "${EDGEREC_TEST_TMP:-/tmp}"
tmp=$(mktemp -d "${EDGEREC_TEST_TMP:-/tmp}/smoke.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

fail() {
    echo "smoke: FAIL: $*" >&2
    exit 1
}

# The header line of $1 holds every column named after it (any order).
has_columns() {
    local file=$1 header col
    shift
    header=$(head -n 1 "$file" | tr -d '\r' | tr '\t' ',')
    for col in "$@"; do
        case ",$header," in
            *",$col,"*) ;;
            *) fail "$(basename "$file") header '$header' lacks column '$col'" ;;
        esac
    done
}

dim=8
"$recgen" --out "$tmp/data" --seed 1 --events 2000 --cookies 50 --products 200 --dim $dim \
    || fail "recgen exited with $?"

data=$tmp/data
# recgen.json is written last (builder/recgen/gen.h): its presence means the set is complete.
for f in events.csv catalog.csv emb.npy emb_ids.txt recgen.json; do
    [ -s "$data/$f" ] || fail "recgen wrote no $f"
done

has_columns "$data/events.csv" ts cookie event product
[ "$(wc -l < "$data/events.csv")" -gt 1 ] || fail "events.csv has no rows"
has_columns "$data/catalog.csv" product category in_stock
[ "$(wc -l < "$data/catalog.csv")" -gt 1 ] || fail "catalog.csv has no rows"

# Event types are the documented ones (the column found from the header).
col=$(head -n 1 "$data/events.csv" | tr -d '\r' | tr ',' '\n' | grep -n -x event | cut -d: -f1)
bad=$(tail -n +2 "$data/events.csv" | cut -d, -f"$col" | grep -v -x -E 'view|cart|purchase' | head -n 3 || true)
[ -z "$bad" ] || fail "events.csv has unknown event types: $bad"

# emb.npy: NumPy magic, little-endian float32, C order, shape (rows, dim)
# with one id per row in emb_ids.txt.
[ "$(head -c 6 "$data/emb.npy" | od -An -c | tr -d ' ')" = '223NUMPY' ] || fail "emb.npy lacks the NumPy magic"
major=$(od -An -tu1 -j6 -N1 "$data/emb.npy" | tr -d ' ')
case "$major" in
    1) hlen=$(od -An -tu2 -j8 -N2 "$data/emb.npy" | tr -d ' '); hoff=10 ;;
    2) hlen=$(od -An -tu4 -j8 -N4 "$data/emb.npy" | tr -d ' '); hoff=12 ;;
    *) fail "emb.npy has NumPy format version $major, expected 1 or 2" ;;
esac
npy_header=$(dd if="$data/emb.npy" bs=1 skip="$hoff" count="$hlen" status=none | tr '\n' ' ')
case "$npy_header" in *"'descr': '<f4'"*) ;; *) fail "emb.npy is not '<f4': $npy_header" ;; esac
case "$npy_header" in *"'fortran_order': False"*) ;; *) fail "emb.npy is Fortran-ordered" ;; esac
shape=$(printf '%s' "$npy_header" | sed -n "s/.*'shape': (\([0-9]*\), *\([0-9]*\)).*/\1 \2/p")
[ -n "$shape" ] || fail "emb.npy header has no 2-d shape: $npy_header"
read -r rows cols <<< "$shape"
[ "$cols" -eq $dim ] || fail "emb.npy has $cols columns, asked for $dim"
ids=$(wc -l < "$data/emb_ids.txt")
[ "$ids" -eq "$rows" ] || fail "emb.npy has $rows rows but emb_ids.txt $ids lines"

echo "smoke: recgen wrote $(($(wc -l < "$data/events.csv") - 1)) events, $rows embeddings of dim $cols"
