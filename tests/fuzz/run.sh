#!/usr/bin/env bash
# run.sh: build and run the libFuzzer targets (README.md).
#
#   run.sh smoke BUILD_DIR                 build with clang in BUILD_DIR, run each target from
#                                          the seed corpus, seed 1, a fixed number of runs or
#                                          CALLRAFT_FUZZ_SECONDS (default 20), whichever ends first
#   run.sh long BUILD_DIR TARGET RUNS      build, then run TARGET for RUNS executions (e.g. 10000000)
#                                          on a working copy of its corpus; prints the figures
#
# The seed corpus in tests/fuzz/corpus/ is never modified: runs work on a copy in BUILD_DIR.
# A crash leaves crash-* / leak-* / timeout-* files in BUILD_DIR/artifacts and fails the run.
set -euo pipefail
mode=${1:?usage: run.sh smoke|long BUILD_DIR [TARGET RUNS]}
build=${2:?usage: run.sh smoke|long BUILD_DIR [TARGET RUNS]}
mkdir -p "$build"
build=$(cd "$build" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
targets=(fuzz_frame fuzz_request fuzz_entry fuzz_http)

cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCALLRAFT_FUZZ=ON >/dev/null
nice -n 10 cmake --build "$build" -j2 --target "${targets[@]}" >/dev/null
mkdir -p "$build/artifacts"

run() { # target extra-args...
  local t=$1; shift
  local work=$build/corpus/$t
  mkdir -p "$work"
  cp -n "$here/corpus/$t/"* "$work/" 2>/dev/null || true
  local log=$build/$t.log rc=0
  echo "--- $t $*"
  (cd "$build/artifacts" && "$build/tests/fuzz/$t" -artifact_prefix="$build/artifacts/$t-" \
     -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -print_funcs=0 "$@" "$work") >"$log" 2>&1 || rc=$?
  grep -E "^(stat::|==[0-9]+==ERROR|SUMMARY|INFO: Seed|Done)" "$log" || true
  if [ $rc != 0 ]; then
    echo "run.sh: $t failed (exit $rc); its log: $log; the input: $build/artifacts/$t-*" >&2
    grep -B2 -A30 -E "ERROR|Assertion|deadly" "$log" | head -60 >&2
    return 1
  fi
}

case $mode in
  smoke)
    secs=${CALLRAFT_FUZZ_SECONDS:-20}
    # A fixed seed: the smoke run in CI is the same run every time (a finding reproduces, and a
    # new one is found by the long runs, not by chance in somebody else's CI).
    # A fixed number of runs too (whichever ends first), about a second each on a quiet machine.
    declare -A runs=([fuzz_frame]=30000 [fuzz_request]=200000 [fuzz_entry]=10000 [fuzz_http]=50000)
    for t in "${targets[@]}"; do run "$t" -seed=1 -runs="${runs[$t]}" -max_total_time="$secs"; done
    echo "fuzz smoke: every target ran without a finding"
    ;;
  long)
    t=${3:?target}; runs=${4:?runs}
    start=$(date +%s)
    run "$t" -runs="$runs"
    echo "fuzz long: $t: $runs executions in $(( $(date +%s) - start )) s without a finding"
    ;;
  *) echo "run.sh: unknown mode '$mode'" >&2; exit 2;;
esac
