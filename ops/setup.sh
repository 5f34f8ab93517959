#!/usr/bin/env bash
# ops/setup.sh - install what edgerec needs on Debian 12. Idempotent: a
# second run checks the installed packages and the FAISS C API stamp and
# returns in seconds.
#
#   1. Debian packages (PACKAGES below), installed only when one is missing.
#   2. The FAISS C API. Debian's libfaiss-dev ships the C API headers
#      (faiss/c_api/*.h) and libfaiss.a but not the compiled C API, so this
#      script builds /usr/local/lib/libfaiss_c.a from the sources in Debian's
#      own `faiss` source package (fetched with `apt-get source`, through a
#      deb-src entry derived from this machine's apt sources), against the
#      installed headers and library. A stamp records the libfaiss-dev version
#      it was built for; a rerun skips the build while that version is
#      installed.
#
# The CUDA toolkit is not installed here: CMake enables the GPU path only
# when it finds nvcc (in PATH or /usr/local/cuda/bin).
#
# Runs as root, or as a user with sudo; a run that finds everything in place
# needs neither.
set -euo pipefail

# Build and test tools, libraries, and what the end-to-end tests and
# benchmarks run (curl, wrk, nginx-light, redis-server, rsync). The fuzzers
# (ops/fuzz.sh) need clang with libFuzzer and its sanitizer runtimes
# (libclang-rt-14-dev, only recommended by clang-14), clang's OpenMP
# (libomp-14-dev) and llvm-symbolizer (llvm-14) for readable reports.
PACKAGES=(
    build-essential cmake pkg-config dpkg-dev
    clang-14 libclang-rt-14-dev libomp-14-dev llvm-14
    liblmdb-dev lmdb-utils
    libmicrohttpd-dev
    libxxhash-dev
    check libsubunit-dev
    libopenblas-dev libfaiss-dev
    rsync curl wrk nginx-light redis-server
    # The demo shop (ops/shop/shop.py) runs on python3; the browser tests
    # (tests/e2e/browser_*.sh) drive the widget, the shop and recctl's
    # report in headless Chromium; the font draws their screenshots' text.
    python3 chromium fonts-dejavu-core
    # The Slurm test (tests/e2e/slurm.sh) starts a one-host cluster of its
    # own: munged with its own key, slurmctld and slurmd on loopback.
    slurm-wlm munge
)
# Test-only packages whose service (PACKAGE.service) is disabled when this
# script installs the package: the tests start their own instances with
# their own configuration, and slurmctld and slurmd would fail at every boot
# without /etc/slurm/slurm.conf. A package that was there before (on a real
# Slurm node) keeps its settings.
TEST_SERVICE_PACKAGES=(munge slurmctld slurmd)

FAISS_C_LIB=/usr/local/lib/libfaiss_c.a
FAISS_C_STAMP=/usr/local/share/edgerec/libfaiss_c.stamp
DEB_SRC_NAME=edgerec-deb-src

log() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -- "$@"
    else
        die "need root (or sudo) to run: $*"
    fi
}

export DEBIAN_FRONTEND=noninteractive
APT_GET=(apt-get -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)

installed() {
    [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

install_packages() {
    local missing=() p
    for p in "${PACKAGES[@]}"; do
        installed "$p" || missing+=("$p")
    done
    if [ ${#missing[@]} -eq 0 ]; then
        log "packages: all ${#PACKAGES[@]} installed"
        return
    fi
    log "packages: installing ${missing[*]}"
    # nginx and redis are here for tests and benchmarks, which start their
    # own instances on private ports: keep the package scripts from starting
    # the system services (policy-rc.d exit 101 = "action forbidden"), unless
    # the machine already has a policy of its own.
    local policy=/usr/sbin/policy-rc.d own_policy=0
    if [ ! -e "$policy" ]; then
        as_root sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 0755 $policy"
        own_policy=1
    fi
    local fresh=()
    for p in "${TEST_SERVICE_PACKAGES[@]}"; do
        installed "$p" || fresh+=("$p.service")
    done
    local rc=0
    as_root "${APT_GET[@]}" update || rc=$?
    [ $rc -eq 0 ] && { as_root "${APT_GET[@]}" install --no-install-recommends "${missing[@]}" || rc=$?; }
    [ $own_policy -eq 1 ] && as_root rm -f -- "$policy"
    [ $rc -eq 0 ] || die "apt-get failed (exit $rc)"
    [ ${#fresh[@]} -eq 0 ] || disable_services "${fresh[@]}"
}

disable_services() { # disable_services UNIT...
    command -v systemctl > /dev/null 2>&1 || return 0
    if as_root systemctl disable --quiet "$@" 2>/dev/null; then
        log "packages: disabled $* (the tests start their own)"
    else
        log "packages: could not disable $*; they may start at boot"
    fi
}

# True when apt already knows a deb-src entry (deb822 or one-line format).
have_deb_src() {
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        grep -Eqi '^Types:(.*[[:space:]])?deb-src([[:space:]]|$)' "$f" && return 0
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        grep -Eq '^[[:space:]]*deb-src[[:space:]]' "$f" && return 0
    done
    return 1
}

# Write deb-src twins of this machine's Debian entries. Only entries whose
# suites are this release's (codename, -updates, -security, -backports) and
# whose components include main are copied: third-party repositories usually
# publish no sources, and apt-get update would fail on them.
add_deb_src() {
    local codename
    # shellcheck disable=SC1091
    codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
    [ -n "$codename" ] || die "cannot tell the Debian codename from /etc/os-release"
    local suite_re="^${codename}(-updates|-security|-backports)?$"
    local tmp
    tmp=$(mktemp)

    # deb822: copy each enabled stanza whose Types include "deb" and whose
    # Suites are all this release's, with "Types: deb-src"; comments dropped.
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk -v suite_re="$suite_re" '
            function flush(   i, ok) {
                ok = has_deb && has_main && !disabled && nsuites > 0
                for (i = 1; i <= nsuites; i++)
                    if (suites[i] !~ suite_re) ok = 0
                if (ok) {
                    for (i = 1; i <= nlines; i++) print lines[i]
                    print ""
                }
                nlines = 0; has_deb = 0; has_main = 0; disabled = 0; nsuites = 0
            }
            /^[[:space:]]*$/ { flush(); next }
            /^#/ { next }
            tolower($1) == "types:" {
                for (i = 2; i <= NF; i++) if ($i == "deb") has_deb = 1
                lines[++nlines] = "Types: deb-src"; next
            }
            tolower($1) == "enabled:" && tolower($2) == "no" { disabled = 1 }
            tolower($1) == "suites:" { for (i = 2; i <= NF; i++) suites[++nsuites] = $i }
            tolower($1) == "components:" { for (i = 2; i <= NF; i++) if ($i == "main") has_main = 1 }
            { lines[++nlines] = $0 }
            END { flush() }
        ' "$f" >> "$tmp"
    done
    if [ -s "$tmp" ]; then
        as_root install -m 0644 "$tmp" "/etc/apt/sources.list.d/$DEB_SRC_NAME.sources"
        log "faiss: wrote /etc/apt/sources.list.d/$DEB_SRC_NAME.sources"
    fi

    # One-line format: "deb [options] uri suite components" -> "deb-src ...".
    : > "$tmp"
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        awk -v suite_re="$suite_re" '
            $1 != "deb" { next }
            {
                i = 2
                if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
                # $i is the URI, $(i+1) the suite, then the components
                main = 0
                for (j = i + 2; j <= NF; j++) if ($j == "main") main = 1
                if ($(i + 1) ~ suite_re && main) { sub(/^deb/, "deb-src"); print }
            }
        ' "$f" >> "$tmp"
    done
    if [ -s "$tmp" ]; then
        as_root install -m 0644 "$tmp" "/etc/apt/sources.list.d/$DEB_SRC_NAME.list"
        log "faiss: wrote /etc/apt/sources.list.d/$DEB_SRC_NAME.list"
    fi
    rm -f -- "$tmp"
    have_deb_src || die "found no Debian apt source to derive a deb-src entry from"
}

build_faiss_c() {
    local binver srcver want
    binver=$(dpkg-query -W -f='${Version}' libfaiss-dev)
    srcver=$(dpkg-query -W -f='${source:Version}' libfaiss-dev)
    want="libfaiss-dev $binver"
    if [ -f "$FAISS_C_LIB" ] && [ -f "$FAISS_C_STAMP" ] && [ "$(cat "$FAISS_C_STAMP")" = "$want" ]; then
        log "faiss: $FAISS_C_LIB is built for $want"
        return
    fi
    log "faiss: building the C API for $want"
    have_deb_src || add_deb_src
    as_root "${APT_GET[@]}" update ||
        die "apt-get update failed; check the deb-src entries in /etc/apt/sources.list.d/$DEB_SRC_NAME.*"

    local work
    work=$(mktemp -d)
    # apt downloads as its unprivileged _apt user when that user may write
    # the folder (otherwise it warns and downloads as root).
    chmod 0755 "$work"
    if [ "$(id -u)" -eq 0 ] && id _apt >/dev/null 2>&1; then
        chown _apt "$work"
    fi
    trap 'rm -rf -- "$work"' EXIT
    # The source of the installed version, so the C API matches libfaiss.a.
    if ! (cd "$work" && apt-get -q source "faiss=$srcver"); then
        log "faiss: source $srcver not available, taking the newest faiss source"
        (cd "$work" && apt-get -q source faiss) || die "apt-get source faiss failed"
    fi
    local capi
    capi=$(find "$work" -mindepth 2 -maxdepth 2 -type d -path "$work/faiss-*/c_api" | head -n 1)
    if [ -z "$capi" ] || [ ! -f "$capi/CMakeLists.txt" ]; then
        die "no faiss-*/c_api in the faiss source package"
    fi

    # The file list is the source's own: set(FAISS_C_SRC ...) in c_api/CMakeLists.txt.
    local srcs
    srcs=$(awk '/set\(FAISS_C_SRC/ { on = 1; next } on && /\)/ { on = 0 } on { for (i = 1; i <= NF; i++) print $i }' \
           "$capi/CMakeLists.txt")
    [ -n "$srcs" ] || die "no FAISS_C_SRC list in $capi/CMakeLists.txt"
    log "faiss: compiling $(echo "$srcs" | wc -l) C API sources with $(nproc) jobs"
    mkdir -p "$work/obj"
    # Objects are named after their path (impl/x.cpp -> impl_x.o), compiled
    # against the system faiss headers in /usr/include.
    # shellcheck disable=SC2016 # $1 and $2 belong to the inner sh
    echo "$srcs" | (cd "$capi" && xargs -P "$(nproc)" -I{} sh -c \
        'g++ -O2 -fPIC -std=c++17 -fopenmp -c "$1" -o "$2/$(echo "$1" | tr / _ | sed "s/\.cpp$//").o"' \
        _ {} "$work/obj") || die "compiling the FAISS C API failed"
    ar rcs "$work/libfaiss_c.a" "$work"/obj/*.o

    as_root install -d /usr/local/lib "$(dirname "$FAISS_C_STAMP")"
    as_root install -m 0644 "$work/libfaiss_c.a" "$FAISS_C_LIB.tmp"
    as_root mv -f -- "$FAISS_C_LIB.tmp" "$FAISS_C_LIB"
    echo "$want" > "$work/stamp"
    as_root install -m 0644 "$work/stamp" "$FAISS_C_STAMP"
    rm -rf -- "$work"
    trap - EXIT
    log "faiss: installed $FAISS_C_LIB"
}

start=$(date +%s)
install_packages
build_faiss_c
if command -v nvcc >/dev/null 2>&1 || [ -x /usr/local/cuda/bin/nvcc ]; then
    log "cuda: nvcc found, the GPU path will be built"
else
    log "cuda: no nvcc, the build is CPU only"
fi
log "done in $(( $(date +%s) - start ))s"
