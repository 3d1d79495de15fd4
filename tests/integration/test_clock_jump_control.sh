#!/usr/bin/env bash
# The negative control of test_clock_jump_forward.sh: the leader's clock 3 h ahead from the moment
# it starts (CALLRAFT_CLOCK_JUMP_AT_START=1), which the stamp clock cannot tell from the truth
# (node/stamp_clock.h), must fail the forward checks with FSM time leaping by hours. If it passed,
# the clock-jump test could not see a jump reach the FSM.
source "$(dirname "$0")/lib.sh"
run_control "the leader's clock 3 h ahead from its start" "FAIL: FSM time leapt: 10[0-9]{6} ms" \
  test_clock_jump_forward.sh CALLRAFT_CLOCK_JUMP_AT_START=1
echo "PASS (the control run failed as it must)"
