/* rules2.c: callraftd-rules2, the daemon declaring FSM rules versions 1..2 (state/rules_newest.c),
 * for tests/integration/test_rules_upgrade.sh: a cluster of these can raise its active version to
 * 2, and a node on the ordinary callraftd (1..1) is the narrower one the gate must wait for. Rules
 * version 2 applies entries exactly as version 1 does. Built only under tests/, never installed. */
#include "state.h"

const uint32_t state_rules_newest = 2;
