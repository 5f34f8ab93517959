#!/usr/bin/env bash
# ops/build.sh - configure and build edgerec with CMake.
#
#   ops/build.sh                 build/        RelWithDebInfo
#   ops/build.sh --sanitize      build-asan/   RelWithDebInfo, ASan + UBSan
#   ops/build.sh --type Debug    any CMake build type
#   ops/build.sh --clean         remove the build folder first
#   ops/build.sh -- -DEDGEREC_CUDA=OFF   further arguments go to cmake
#
# Needs what ops/setup.sh installs. The CUDA path is built when CMake finds
# nvcc (PATH or /usr/local/cuda/bin).
set -euo pipefail

usage() {
    sed -n '2,11s/^# \{0,1\}//p' "$0"
}

root=$(cd "$(dirname "$0")/.." && pwd)
sanitize=0
clean=0
type=RelWithDebInfo
extra=()
while [ $# -gt 0 ]; do
    case "$1" in
        --sanitize) sanitize=1 ;;
        --clean) clean=1 ;;
        --type) [ $# -ge 2 ] || { usage >&2; exit 2; }; type=$2; shift ;;
        --type=*) type=${1#--type=} ;;
        -h|--help) usage; exit 0 ;;
        --) shift; extra=("$@"); break ;;
        *) printf 'build: unknown option %s\n' "$1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done

if [ $sanitize -eq 1 ]; then
    dir=$root/build-asan
    extra=(-DEDGEREC_SANITIZE=ON "${extra[@]}")
else
    dir=$root/build
    extra=(-DEDGEREC_SANITIZE=OFF "${extra[@]}")
fi

[ $clean -eq 1 ] && rm -rf -- "$dir"
start=$(date +%s)
cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE="$type" "${extra[@]}"
cmake --build "$dir" -j "$(nproc)"

printf 'build: %s build in %s (%ss)\n' "$type$([ $sanitize -eq 1 ] && echo ', sanitizers')" "$dir" \
    "$(( $(date +%s) - start ))"
for bin in builder/recbuild builder/recgen edge/recedge edge/recctl; do
    if [ -x "$dir/$bin" ]; then
        printf 'build:   %s\n' "$dir/$bin"
    else
        printf 'build:   %s (not built yet: no source)\n' "$dir/$bin"
    fi
done
