/* callraft_ops.h: which requests are writes (through the log, with a session), reads
 * (linearizable by default, or stale) and admin operations (membership, leadership). One table
 * shared by the node (dispatch) and the client library (sessions and retries). `status` is none of
 * them: every node answers it from its own view. */
#ifndef CALLRAFT_OPS_H
#define CALLRAFT_OPS_H

#include <stdbool.h>

#include "callraft.pb-c.h"

bool callraft_op_is_write(Callraft__Request__OpCase op);
bool callraft_op_is_read(Callraft__Request__OpCase op);
bool callraft_op_is_admin(Callraft__Request__OpCase op);

#endif
