# rules_lib.sh: helpers of the FSM rules versions tests (test_rules_upgrade.sh, test_rules_spare.sh),
# sourced after lib.sh. Nodes 1 and 3 stay up in both: the CLI and HTTP calls go to them.
full=$BUILD/callraftd-rules2
narrow=$BUILD/callraftd
[ -x "$full" ] || fail "$full not built"
lab=$CALLRAFT_LAB

# start_node ID BINARY: node ID run by BINARY (lib.sh's start_bg); its exit code goes to
# $lab/exit.ID, the daemon's pid to its pid file (so that cluster.sh kill and down stop it).
start_node() { start_bg "$1" "$2" "$lab/exit.$1"; }
# stop_node ID: SIGTERM, and wait for its exit code.
stop_node() {
  local deadline=$((SECONDS + 20))
  kill -TERM "$(cat "$lab/node$1/pid")"
  until [ -s "$lab/exit.$1" ]; do [ $SECONDS -lt $deadline ] || fail "node $1 did not stop"; sleep 0.1; done
}
# ranges: "ID:OLDEST..NEWEST ..." of the member records, then "active=N" (members list).
ranges() {
  "$CLI" --cluster "$(client_addr 1),$(client_addr 3)" --json members list | python3 -c '
import json,sys
d=json.load(sys.stdin)
print(" ".join("%d:%d..%d" % (m["id"], m.get("rules_oldest",0), m.get("rules_newest",0)) for m in d["members"]), "active=%d" % d.get("rules_active",0))'
}
# wait_ranges WANT: until `ranges` prints WANT (at most 30 s).
wait_ranges() {
  local deadline=$((SECONDS + 30)) got
  until got=$(ranges 2>/dev/null) && [ "$got" = "$1" ]; do
    [ $SECONDS -lt $deadline ] || fail "members declare '$got', want '$1' within 30 s"
    sleep 0.3
  done
}
# active_of ID: the active rules version node ID reports of itself.
active_of() {
  "$CLI" --cluster "$(client_addr "$1")" --json status | python3 -c '
import json,sys
d=json.load(sys.stdin)
print(next(m.get("rules_active",0) for m in d["members"] if m["id"]==d["answered_by"]))'
}

# http METHOD PATH [BODY]: one request to the HTTP API of node 1, else node 3 (nodes 1 and 3 stay
# up), with the certificate of CALLRAFT_TLS_CERT; prints the status and the body's JSON on a line.
http() {
  PYTHONPATH="$(dirname "$0")" python3 - "$@" <<'PY'
import json, os, sys
from http_lib import call
base = int(os.environ["CALLRAFT_PORT_BASE"])
method, path = sys.argv[1], sys.argv[2]
body = json.loads(sys.argv[3]) if len(sys.argv) > 3 else None
for node in (1, 3):
    try:
        st, _, d = call("127.0.0.1:%d" % (base + 200 + node), method, path, body=body, timeout=10)
    except OSError:
        continue
    if st != 503:
        break
print(st, json.dumps(d, sort_keys=True))
PY
}
# as_supervisor CMD...: CMD with the supervisor's certificate (no admin role).
as_supervisor() {
  CALLRAFT_TLS_CERT=$lab/certs/supervisor.crt CALLRAFT_TLS_KEY=$lab/certs/supervisor.key "$@"
}
# field JSON EXPR: a Python expression over the reply `d`.
field() { python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"; }

