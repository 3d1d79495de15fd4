/* rules2.c: callraftd-rules2, the daemon declaring FSM rules versions 1..2 (state/rules_newest.c),
 * for tests/integration/test_rules_upgrade.sh: a cluster of these can raise its active version to
 * 2, and a node on the ordinary callraftd (1..1) is the narrower one the gate must wait for. Rules
 * version 2 applies entries exactly as version 1 does, but for ticket_class_configure, which this
 * build applies only from version 2 (test_rules_spare.sh: the leader refuses it while version 1
 * is active, then accepts it). Built only under tests/, never installed: a cluster mixing it
 * with the ordinary build must not configure ticket classes at version 1. */
#include "state.h"

const uint32_t state_rules_newest = 2;

const struct state_rules_op state_rules_ops[] = {
	{CALLRAFT__COMMAND__OP_TICKET_CLASS_CONFIGURE, 2},
	{0, 0},
};
