#!/usr/bin/env bash
# The negative control of test_clock_jump_forward.sh: the leader's clock 3 h ahead from the moment
# it starts (CALLRAFT_CLOCK_JUMP_AT_START=1), which the stamp clock cannot tell from the truth
# (node/stamp_clock.h), must fail the forward checks with FSM time leaping by hours. If it passed,
# the clock-jump test could not see a jump reach the FSM.
set -uo pipefail
BUILD=$(cd "${1:?usage: test_clock_jump_control.sh BUILD_DIR}" && pwd)
out=$(mktemp /tmp/callraft-clock-control.XXXXXX)
trap 'rm -f "$out"' EXIT
CALLRAFT_CLOCK_JUMP_AT_START=1 bash "$(dirname "$0")/clock_jump.sh" forward "$BUILD" >"$out" 2>&1
rc=$?
grep -E "^(---|FSM|FAIL|PASS)" "$out" | head -20
if [ $rc -eq 0 ]; then
  echo "FAIL: the clock-jump test passed with the leader's clock 3 h ahead from its start" >&2
  exit 1
fi
grep -qE "FAIL: FSM time leapt: 10[0-9]{6} ms" "$out" ||
  { echo "FAIL: the control failed, but not by a 3 h leap of FSM time:" >&2; tail -30 "$out" >&2; exit 1; }
echo "PASS (the control run failed as it must)"
