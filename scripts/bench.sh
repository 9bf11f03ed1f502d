#!/usr/bin/env bash
# Regenerates BENCHMARKS.md in one command: runs `kiln bench` on every suite
# (one thread, then all of them), then the zoo models beside ONNX Runtime and
# PyTorch on the same thread counts (bench/peers/run_peers.py, in the peers
# venv setup.sh installs), keeps the JSON reports in bench/results/ and
# renders them with the machine, the date, each figure as a ratio to its
# peer from the same run, and PNG plots (bench/render_benchmarks.py,
# matplotlib from setup.sh).
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
# Extra arguments go to both `kiln bench` runs; --smoke also to the model
# peers (default sizes only, short budgets).
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
  # From the repository root, so the recorded command names its paths as
  # the repository does.
  (cd "$here" && KILN_BUILD_DIR=$build_dir /usr/bin/python3 \
     bench/tuning_bench.py --output bench/results/tuning.json)
fi
tuning=()
[ -f "$results/tuning.json" ] && tuning=(--tuning "$results/tuning.json")

# The register-tile ceiling of a matmul on this CPU (AVX-512 only).
ceiling=()
if cc -O3 -march=native "$here/bench/ceiling/register_tile.c" \
     -o "$build_dir/register_tile" &&
   "$build_dir/register_tile" > "$results/ceiling.txt"; then
  ceiling=(--ceiling "$results/ceiling.txt")
else
  rm -f "$results/ceiling.txt"
fi

"$kiln" bench --suite all --threads 1 --json "$results/threads-1.json" "$@"
"$kiln" bench --suite all --json "$results/threads-all.json" "$@"

# The model peers on the thread counts of the two runs above.
peers_python=$build_dir/peers-venv/bin/python
peers_args=()
if [[ -x $peers_python ]]; then
  threads=1
  (( $(nproc) > 1 )) && threads=1,$(nproc)
  smoke=()
  [[ " $* " == *" --smoke "* ]] && smoke=(--smoke)
  "$build_dir/python-venv/bin/python" "$here/bench/peers/run_peers.py" \
    --kiln "$kiln" --peers-python "$peers_python" --threads "$threads" \
    --json "$results/models-peers.json" "${smoke[@]}"
  peers_args=(--peers "$results/models-peers.json")
else
  echo "bench.sh: no peers venv at $build_dir/peers-venv (scripts/setup.sh" \
       "installs it); the models are rendered without ONNX Runtime and PyTorch" >&2
fi

# The system Python, where setup.sh installs matplotlib.
command="scripts/bench.sh"
[ "$run_tuning" = 1 ] && command+=" --tuning"
command+="${*:+ $*}"
/usr/bin/python3 "$here/bench/render_benchmarks.py" \
  --command "$command" \
  --notes "$here/bench/NOTES.md" \
  --plots "$here/bench/plots" \
  --output "$here/BENCHMARKS.md" "${tuning[@]}" "${peers_args[@]}" \
  "${ceiling[@]}" \
  "$results/threads-1.json" "$results/threads-all.json"
echo "wrote $here/BENCHMARKS.md"
