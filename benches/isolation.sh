#!/usr/bin/env bash
# Seeds per second of `faxsim validate`: in process, isolated on one worker, and isolated
# on two workers, for a careful C routing library and a threaded one (docs/performance.md).
# Usage: bash benches/isolation.sh [SEEDS] [REPEATS]   (defaults 2000 and 3; the median
# of the repeats is printed). Builds faxsim in release and the two fixtures with cc.
set -euo pipefail
cd "$(dirname "$0")/.."
seeds="${1:-2000}"
repeats="${2:-3}"
cargo build --release --quiet
faxsim="${CARGO_TARGET_DIR:-target}/release/faxsim"
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
for f in careful_routing careful_threads; do
    ${CC:-cc} -shared -fPIC -pthread -O2 -std=c11 -I sim/abi/include \
        -o "$dir/lib$f.so" "extensions/c/$f.c" -ldl
done

# Median wall time in seconds of REPEATS runs of the command.
median() {
    local times=()
    for _ in $(seq "$repeats"); do
        local t0 t1
        t0=$(date +%s%N)
        "$@" >/dev/null
        t1=$(date +%s%N)
        times+=("$(( t1 - t0 ))")
    done
    printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.3f", a[int((NR+1)/2)] / 1e9}'
}

printf '%-16s %-20s %10s %12s\n' library mode seconds seeds/s
for f in careful_routing careful_threads; do
    lib="$dir/lib$f.so"
    for mode in "--in-process" "--jobs 1" "--jobs 2"; do
        # shellcheck disable=SC2086
        s=$(median "$faxsim" validate "$lib" --seeds "$seeds" --format json $mode)
        printf '%-16s %-20s %10s %12.0f\n' "$f" "$mode" "$s" "$(echo "$seeds / $s" | bc -l)"
    done
done
