/* session_secret.c: the secret of a new client session (issue 13).
 *
 * Session ids are a counter in the replicated state (deterministic, so guessable). The leader
 * therefore draws CALLRAFT_SESSION_SECRET_BYTES random bytes for each RegisterClient before it is
 * proposed; the entry carries them, the FSM keeps them with the session and answers SESSION_UNKNOWN
 * to any command of that session without them (state/apply.c). Randomness stays out of the FSM:
 * every replica copies the bytes the entry holds. */
#include <stdlib.h>
#include <sys/random.h>

#include "node_internal.h"

int session_secret_draw(Callraft__RegisterClient *rc)
{
	uint8_t *b = malloc(CALLRAFT_SESSION_SECRET_BYTES);

	if (b == NULL)
		return -1;
	if (getrandom(b, CALLRAFT_SESSION_SECRET_BYTES, 0) != CALLRAFT_SESSION_SECRET_BYTES) {
		free(b);
		return -1;
	}
	/* Whatever the client sent is replaced; the request's free_unpacked frees ours. */
	free(rc->secret.data);
	rc->secret.data = b;
	rc->secret.len = CALLRAFT_SESSION_SECRET_BYTES;
	return 0;
}
