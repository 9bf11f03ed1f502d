#!/usr/bin/env bash
# Regenerates BENCHMARKS.md in one command: runs `kiln bench` on every suite
# (one thread, then all of them), keeps the JSON
# reports in bench/results/ and renders them with the machine, the date,
# each figure as a ratio to its peer from the same run, and PNG plots
# (bench/render_benchmarks.py, matplotlib from setup.sh).
#
#   scripts/bench.sh                 the full suites (a few minutes)
#   scripts/bench.sh --smoke         tiny sizes, to check the pipeline
#   scripts/bench.sh --counts        with instruction counts (perf; on a
#                                    machine without a counter, callgrind,
#                                    which takes many minutes at full size)
#   scripts/bench.sh --tuning        also the tuning benchmark first
#                                    (bench/tuning_bench.py, 15-25 minutes);
#                                    its last result in bench/results/
#                                    tuning.json is rendered either way
#
# Extra arguments go to both `kiln bench` runs.
set -euo pipefail

# --tuning is this script's own; the rest go to kiln bench.
run_tuning=0
bench_args=()
for arg in "$@"; do
  if [ "$arg" = --tuning ]; then run_tuning=1; else bench_args+=("$arg"); fi
done
set -- "${bench_args[@]}"

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${KILN_BUILD_DIR:-$here/build}
kiln=$build_dir/bin/kiln
results=$here/bench/results
mkdir -p "$results"

if [ "$run_tuning" = 1 ]; then
  KILN_BUILD_DIR=$build_dir /usr/bin/python3 "$here/bench/tuning_bench.py" \
    --output "$results/tuning.json"
fi
tuning=()
[ -f "$results/tuning.json" ] && tuning=(--tuning "$results/tuning.json")

"$kiln" bench --suite all --threads 1 --json "$results/threads-1.json" "$@"
"$kiln" bench --suite all --json "$results/threads-all.json" "$@"

# The system Python, where setup.sh installs matplotlib.
/usr/bin/python3 "$here/bench/render_benchmarks.py" \
  --command "scripts/bench.sh${*:+ $*}" \
  --notes "$here/bench/NOTES.md" \
  --plots "$here/bench/plots" \
  --output "$here/BENCHMARKS.md" "${tuning[@]}" \
  "$results/threads-1.json" "$results/threads-all.json"
echo "wrote $here/BENCHMARKS.md"
