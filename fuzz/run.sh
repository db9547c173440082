#!/usr/bin/env bash
# Runs every fuzz target (hookgate-verify's header and body parsers, and the
# handshake readers of hookgate-events that hookgate-receive answers senders'
# endpoint checks with) for N seconds each (default 60). A target with a
# dictionary beside this script (`<target>.dict`) runs with it.
#
#   fuzz/run.sh            # 60 s per target
#   fuzz/run.sh 10         # 10 s per target
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`). cargo-fuzz passes `-Z` flags to
# rustc; RUSTC_BOOTSTRAP=1 lets the stable toolchain accept them, so no nightly
# is needed (set FUZZ_TOOLCHAIN=+nightly to use one anyway). The sanitizer is off
# (`--sanitizer none`): the crate forbids unsafe code, so AddressSanitizer adds
# cost without finding anything; panics, failed assertions and hangs are what
# these targets look for.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-60}"
export RUSTC_BOOTSTRAP=1
toolchain=(${FUZZ_TOOLCHAIN:-})

mkdir -p target/logs
for target in $(cargo "${toolchain[@]}" fuzz list); do
    echo "==> $target (${seconds}s)"
    log="target/logs/$target.log"
    dict=()
    if [[ -f "$target.dict" ]]; then
        dict=(-dict="$target.dict")
    fi
    if ! cargo "${toolchain[@]}" fuzz run --sanitizer none "$target" -- \
        -max_total_time="$seconds" -max_len=4096 -print_final_stats=1 "${dict[@]}" >"$log" 2>&1; then
        tail -n 40 "$log"
        echo "$target FAILED (full log: fuzz/$log)"
        exit 1
    fi
    grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb)' "$log" || true
done
echo "all targets ran ${seconds}s each without a crash"
