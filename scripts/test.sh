#!/usr/bin/env bash
# Sets up, builds and runs Kiln's whole test suite: lit + FileCheck tests
# (IR, passes, tools, end-to-end zoo numerics) and the GoogleTest unit tests.
# Prints one summary line "N passed, N failed" and exits non-zero on any
# failure.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${KILN_BUILD_DIR:-$here/build}

"$here/scripts/setup.sh" || { echo "0 passed, 1 failed (setup or build)"; exit 1; }

log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT

echo "== lit tests"
lit=/usr/lib/llvm-22/bin/lit
# The timing tests run alone, after the rest, so no other test loads the
# machine while they measure.
"$lit" -sv --filter-out '^KILN :: timing/' "$build_dir/test" | tee "$log/lit.txt"
"$lit" -sv -j1 --filter '^KILN :: timing/' "$build_dir/test" | tee -a "$log/lit.txt"
echo "== python tests"
"$build_dir/python-venv/bin/python" -m pytest -q "$here/test/python" | tee "$log/pytest.txt"
echo "== unit tests"
(cd "$build_dir" && ctest --output-on-failure) | tee "$log/ctest.txt"

lit_passed=$(grep -E '^ *Passed *: *[0-9]+' "$log/lit.txt" | awk -F: '{ s += $2 } END { print s + 0 }')
lit_failed=$(grep -E '^ *(Failed|Unresolved|Timed Out|Unexpectedly Passed) *: *[0-9]+' "$log/lit.txt" |
  awk -F: '{ s += $2 } END { print s + 0 }')
ctest_line=$(grep -E 'tests passed, [0-9]+ tests failed out of' "$log/ctest.txt" || true)
ctest_total=$(echo "$ctest_line" | grep -oE 'out of [0-9]+' | grep -oE '[0-9]+' || echo 0)
ctest_failed=$(echo "$ctest_line" | grep -oE '[0-9]+ tests failed' | grep -oE '[0-9]+' || echo 0)
[ -n "$ctest_line" ] || ctest_failed=1
# pytest's last line: "N passed, N failed in S s" (either part may be absent).
py_line=$(tail -n 1 "$log/pytest.txt")
py_passed=$(echo "$py_line" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+' || echo 0)
py_failed=$(echo "$py_line" | grep -oE '[0-9]+ (failed|error|errors)' | grep -oE '[0-9]+' |
  awk '{ s += $1 } END { print s + 0 }')
[ "${py_passed:-0}" -gt 0 ] || py_failed=$(( ${py_failed:-0} + 1 ))
passed=$(( ${lit_passed:-0} + ${ctest_total:-0} - ${ctest_failed:-0} + ${py_passed:-0} ))
failed=$(( ${lit_failed:-0} + ${ctest_failed:-0} + ${py_failed:-0} ))

echo
echo "== summary: lit ${lit_passed:-0} passed, ${lit_failed:-0} failed; unit $(( ${ctest_total:-0} - ${ctest_failed:-0} )) passed, ${ctest_failed:-0} failed; python ${py_passed:-0} passed, ${py_failed:-0} failed"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
