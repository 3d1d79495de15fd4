/* rules_newest.c: the newest FSM rules version this binary applies (state.h, state_rules_newest).
 *
 * Alone in its file so that a test build can link its own definition instead (the linker then never
 * takes this object from the state library): callraftd-rules2 (tests/faults/rules2.c) declares
 * versions 1..2 for the rolling-upgrade test, and tests/unit/test_rules.c does the same to drive the
 * gate. Version 2's rules are version 1's: only the declared range differs. */
#include "state.h"

const uint32_t state_rules_newest = CALLRAFT_RULES_NEWEST;
