/* rules_newest.c: the newest FSM rules version this binary applies (state.h, state_rules_newest),
 * and the operations that need a version above 1 (state_rules_ops).
 *
 * Alone in its file so that a test build can link its own definition instead (the linker then never
 * takes this object from the state library): callraftd-rules2 (tests/faults/rules2.c) declares
 * versions 1..2 for the rolling-upgrade test, and tests/unit/test_rules.c does the same to drive the
 * gate. Version 2's rules are version 1's, but for one operation those builds say needs version 2
 * (state_rules_ops): a test build defines both symbols. */
#include "state.h"

const uint32_t state_rules_newest = CALLRAFT_RULES_NEWEST;

/* No operation needs a version above 1 today. */
const struct state_rules_op state_rules_ops[] = {{0, 0}};
