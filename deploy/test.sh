#!/usr/bin/env bash
# test.sh: install what is needed, build, and run the whole test suite.
#   1. deploy/install-deps.sh (Debian packages; raft 0.22.1 from Debian's source package)
#   2. build/ (RelWithDebInfo, assertions on): unit, simulation and integration tests (ctest)
#   3. build-asan/ (AddressSanitizer + UndefinedBehaviorSanitizer): unit and simulation tests
# Exit status is non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
./deploy/install-deps.sh
jobs=$(nproc)
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure --timeout 900 -j1)
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCALLRAFT_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$jobs"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 CALLRAFT_SIM_SEEDS=${CALLRAFT_SIM_SEEDS_ASAN:-20} \
  ctest --output-on-failure --timeout 900 -L 'unit|sim' -j1)
echo "test.sh: all tests passed"
