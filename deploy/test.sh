#!/usr/bin/env bash
# test.sh: install what is needed, build, and run the whole test suite.
#   1. deploy/install-deps.sh (Debian packages; raft 0.22.1 from Debian's source package)
#   2. build/ (RelWithDebInfo, assertions on): unit, simulation and integration tests (ctest)
#   3. build-asan/ (AddressSanitizer + UndefinedBehaviorSanitizer): unit and simulation tests, then
#      four integration tests against the sanitized daemons
# Exit status is non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
./deploy/install-deps.sh
jobs=$(nproc)
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs"
# -j: the unit and simulation tests, the fuzz smoke and the package build run side by side (they are
# CPU-bound and share nothing); every integration test is RUN_SERIAL (tests/CMakeLists.txt), so ctest
# runs them afterwards, one at a time.
(cd build && ctest --output-on-failure --timeout 900 -j"$jobs")
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCALLRAFT_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$jobs"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 CALLRAFT_SIM_SEEDS=${CALLRAFT_SIM_SEEDS_ASAN:-20} \
  ctest --output-on-failure --timeout 900 -L 'unit|sim' -j"$jobs")
# The daemons under the sanitizers: integration tests against build-asan's callraftd, callraft and
# callraft-traffic (a sanitizer report aborts the process and fails the test; leaks are checked by
# the unit and sim runs above, not at every daemon's exit). The ones that passed under the
# sanitizers when this was added; test_drill_short is not among them yet: on 2026-12-07 it failed
# in both builds (two nodes of one site could not both bind the HTTP port in the lab).
(cd build-asan && ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --output-on-failure --timeout 900 -L integration \
    -R 'test_leader_kill_3|test_cluster_5|test_events_failover|test_routing_failover' -j1)
echo "test.sh: all tests passed"
