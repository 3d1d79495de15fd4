#!/usr/bin/env bash
# The installed client (issue 14 item 4): `cmake --install` puts libcallraft.so (versioned SONAME),
# its public headers and callraft.pc under a fresh prefix; examples/pbx_example.c is compiled with
# `pkg-config --cflags --libs callraft` against that prefix only (not the build tree) and run
# against a real 3-node cluster; the CLI then checks what it did to the cluster's state.
source "$(dirname "$0")/lib.sh"

prefix=$CALLRAFT_LAB/prefix
work=$CALLRAFT_LAB/example

step "install into $prefix"
cmake --install "$BUILD" --prefix "$prefix" >/dev/null
pc=$(find "$prefix" -name callraft.pc | head -n 1)
[ -n "$pc" ] || fail "no callraft.pc installed"
libdir=$(dirname "$(dirname "$pc")")
for f in "$libdir/libcallraft.so" "$libdir/libcallraft.so.0" \
  "$prefix/include/callraft/callraft_client.h" "$prefix/include/callraft/callraft_request.h" \
  "$prefix/include/callraft/callraft.pb-c.h" "$prefix/include/callraft/callraft_limits.h" \
  "$prefix/bin/callraft" "$prefix/bin/callraft-bench"; do
  [ -e "$f" ] || fail "not installed: $f"
done
soname=$(readelf -d "$libdir/libcallraft.so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = "libcallraft.so.0" ] || fail "SONAME '$soname', expected libcallraft.so.0"
echo "installed: $(cd "$libdir" && echo libcallraft.so*), SONAME $soname"

step "compile examples/pbx_example.c with pkg-config, against the installed library only"
mkdir -p "$work"
cp "$ROOT/examples/pbx_example.c" "$work/"
export PKG_CONFIG_PATH=$(dirname "$pc")
flags=$(pkg-config --cflags --libs callraft)
echo "pkg-config --cflags --libs callraft: $flags"
case "$flags" in *"$BUILD"*|*"$ROOT"*) fail "pkg-config points into the source or build tree";; esac
# A library built with the sanitizers (build-asan) needs their runtime loaded first: a program
# linked without it aborts at start ("ASan runtime does not come first"). Such a build's users
# link with the same -fsanitize flags; so does the example then.
san=()
if readelf -d "$libdir/libcallraft.so" | grep -q 'NEEDED.*libasan'; then
  san=(-fsanitize=address,undefined)
fi
# Only the prefix is on the include path: a header missing from the install fails here.
(cd "$work" && cc -std=c11 -Wall -Wextra -Werror "${san[@]}" pbx_example.c $flags \
  -Wl,-rpath,"$libdir" -o pbx_example)
lib_used=$(ldd "$work/pbx_example" | awk '/libcallraft/ {print $3}')
[ "$(readlink -f "$lib_used")" = "$(readlink -f "$libdir/libcallraft.so.0")" ] ||
  fail "the example loads '$lib_used', not the installed library"

step "start a 1+1+1 cluster"
"$CLUSTER_SH" up 1+1+1 >/dev/null
wait_leader >/dev/null

step "run the example"
"$work/pbx_example" "$(cluster)" it1 | tee "$work/out"
grep -q '^enqueue 2: call pbx-example-it1 .*already enqueued' "$work/out" ||
  fail "the second enqueue of the same call id was not answered as the first"
ticket=$(sed -n 's/^ticket: \(T[0-9A-Z*~$=]*\) for cust-example-it1$/\1/p' "$work/out")
[ -n "$ticket" ] || fail "the example opened no ticket"
grep -qx "final: call pbx-example-it1 ENDED, ticket $ticket" "$work/out" ||
  fail "the example did not end the call with its ticket"

step "the cluster's state, read with the CLI"
"$CLI" --cluster "$(cluster)" --json call show pbx-example-it1 > "$work/call.json"
python3 - "$work/call.json" "$ticket" <<'PY'
import json, sys
call = json.load(open(sys.argv[1]))["call"]
assert call["state"] == "ended", call
assert call["agent_id"] == "agent-example-it1", call
assert call["ticket_code"] == sys.argv[2], call
assert call["tier"] == 2 and call["queue"] == "example-it1", call
PY
n=$("$CLI" --cluster "$(cluster)" --json ticket list --customer cust-example-it1 |
  python3 -c 'import json,sys; print(len(json.load(sys.stdin)["tickets"]))')
[ "$n" = 1 ] || fail "customer has $n tickets, expected 1"
total=$("$CLI" --cluster "$(cluster)" --json queue show example-it1 |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')
[ "$total" = 0 ] || fail "queue example-it1 holds $total calls, expected 0"
state=$("$CLI" --cluster "$(cluster)" --json agent show agent-example-it1 |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["agent"]["state"])')
[ "$state" = offline ] || fail "agent state '$state', expected offline"

step "a refused step exits 1 and says why"
set +e
"$work/pbx_example" "$(cluster)" it1 > "$work/out2" 2> "$work/err2"
rc=$?
set -e
[ $rc = 1 ] || fail "re-running a finished call exited $rc, expected 1"
cat "$work/err2"
grep -q '^pbx_example: call next: QUEUE_EMPTY' "$work/err2" || fail "unexpected error: $(cat "$work/err2")"
echo "ok: installed client works end to end"
