#!/usr/bin/env bash
# Build one AFL++ target and fuzz it for a while, on one core; see docs/fuzzing.md.
#
# Usage: fuzz-afl/run.sh TARGET [SECONDS]     (TARGET: codec, partner_url,
#        range_conditional or config; SECONDS: default 600)
#   NO_BUILD=1   skip `cargo afl build` and use the binary already in the target dir
#
# Output goes to fuzz-afl/out/TARGET/default/ (queue/, crashes/, hangs/, fuzzer_stats);
# an earlier run's output is moved to out/TARGET.<time> first. Needs cargo-afl 0.18.2.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"
target="${1:?usage: fuzz-afl/run.sh TARGET [SECONDS]}"
seconds="${2:-600}"
[ -d "seeds/$target" ] || { echo "unknown target: $target (no seeds/$target)" >&2; exit 2; }

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
if [ "${NO_BUILD:-0}" != 1 ]; then
    cargo afl build --release --bin "$target"
fi
bin="$CARGO_TARGET_DIR/release/$target"

out="out/$target"
if [ -e "$out" ]; then
    mv "$out" "$out.$(date +%Y%m%d%H%M%S)"
fi
mkdir -p out

dict=()
[ -f "dicts/$target.dict" ] && dict=(-x "dicts/$target.dict")

# No UI (logs instead), no CPU-frequency or core-dump checks (a shared machine or a
# container cannot change them), no core pinning (the scheduler shares the cores).
AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_AFFINITY=1 \
    cargo afl fuzz -V "$seconds" -i "seeds/$target" -o "$out" "${dict[@]}" -- "$bin"

stats="$out/default/fuzzer_stats"
grep -E '^(start_time|run_time|execs_done|execs_per_sec|corpus_count|saved_crashes|saved_hangs|bitmap_cvg|stability|afl_version) ' "$stats"
