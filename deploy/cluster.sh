#!/usr/bin/env bash
# cluster.sh: a local callraft cluster of real processes on loopback, one "site" per city.
#
#   deploy/cluster.sh up [2+2+1|1+1+1]   write configs and start every node (default 2+2+1)
#   deploy/cluster.sh config [LAYOUT]    write configs and certificates only (a test that starts the
#                                        nodes its own way: under a preload, strace, a namespace)
#   deploy/cluster.sh status             `callraft status` against the cluster
#   deploy/cluster.sh addresses          the client addresses, comma-separated (for --cluster)
#   deploy/cluster.sh http-addresses     the HTTP/JSON addresses, comma-separated
#   deploy/cluster.sh env [CLIENT]       export lines for a shell: CALLRAFT_CLUSTER and the TLS files
#                                        of client certificate CLIENT (default admin; also supervisor,
#                                        agent, pbx, traffic): eval "$(deploy/cluster.sh env)"
#   deploy/cluster.sh kill ID [SIGNAL]   signal one node (default KILL), by the PID we started;
#                                        KILL and TERM return once it is gone (at most 10 / 60 s,
#                                        else exit 1)
#   deploy/cluster.sh start ID           start one node again from its data dir
#   deploy/cluster.sh new ID SITE        write a config for a new (empty) node and start it;
#                                        bring it in with `callraft members add`
#   deploy/cluster.sh leader             print the leader's id
#   deploy/cluster.sh down               stop every node we started (SIGTERM, then KILL) and keep data
#   deploy/cluster.sh wipe               down, then delete the data
#
# Environment: CALLRAFT_LAB (default ./lab/local) holds configs, data, logs and pids;
# CALLRAFT_PORT_BASE (default 17000): node i listens on BASE+i (raft), BASE+100+i (clients) and
# BASE+200+i (HTTP/JSON);
# CALLRAFT_BUILD (default ./build): where callraftd and callraft are;
# CALLRAFT_NODE_INI_EXTRA: sections added to every node's config (e.g. "[state]\nquota_mb = 2");
# CALLRAFT_HOST (default 127.0.0.1): the loopback host every address uses: ::1 (written [::1]:port)
# or localhost work too (the node certificates name all three).
# TLS is on: `up` makes a CA and certificates in $CALLRAFT_LAB/certs (deploy/certs.sh) and every node
# runs mutual TLS; this script's own CLI calls use the admin certificate unless CALLRAFT_TLS_CERT
# is set. CALLRAFT_INSECURE=1 writes `insecure = true` configs instead (plain TCP, no roles).
set -euo pipefail
shopt -s nullglob
here=$(cd "$(dirname "$0")/.." && pwd)
lab=${CALLRAFT_LAB:-$here/lab/local}
base=${CALLRAFT_PORT_BASE:-17000}
build=${CALLRAFT_BUILD:-$here/build}
daemon=$build/callraftd
cli=$build/callraft
certs=$lab/certs
tls_on() { [ "${CALLRAFT_INSECURE:-0}" != 1 ]; }
host=${CALLRAFT_HOST:-127.0.0.1}
case $host in *:*) H="[$host]";; *) H=$host;; esac # an IPv6 literal is bracketed before :port

# The CA, one certificate per node (loopback by IPv4, IPv6 and name) and the demo's clients.
ensure_certs() { # node ids...
  tls_on || return 0
  local id c
  [ -f "$certs/ca.crt" ] || "$here/deploy/certs.sh" init "$certs" >/dev/null
  for id in "$@"; do
    [ -f "$certs/node$id.crt" ] || "$here/deploy/certs.sh" issue "$certs" node "$id" 127.0.0.1,::1,localhost >/dev/null
  done
  for c in admin:admin supervisor:supervisor agent:agent pbx:pbx traffic:pbx,agent,supervisor; do
    [ -f "$certs/${c%%:*}.crt" ] || "$here/deploy/certs.sh" issue "$certs" client "${c%%:*}" "${c#*:}" >/dev/null
  done
}
if tls_on && [ -z "${CALLRAFT_TLS_CERT:-}" ]; then
  export CALLRAFT_TLS_CA=$certs/ca.crt CALLRAFT_TLS_CERT=$certs/admin.crt CALLRAFT_TLS_KEY=$certs/admin.key
fi

site_of() { # layout id -> site
  case "$1:$2" in
    1+1+1:1) echo tehran;; 1+1+1:2) echo shiraz;; 1+1+1:3) echo witness;;
    2+2+1:1|2+2+1:2) echo tehran;; 2+2+1:3|2+2+1:4) echo shiraz;; 2+2+1:5) echo witness;;
    *) echo "cluster.sh: unknown layout '$1'" >&2; exit 2;;
  esac
}
count_of() { case "$1" in 1+1+1) echo 3;; 2+2+1) echo 5;; *) echo "cluster.sh: unknown layout '$1'" >&2; exit 2;; esac; }

write_config() { # id site members-file
  local id=$1 site=$2
  mkdir -p "$lab/node$id"
  {
    echo "[node]"
    echo "id = $id"
    echo "site = $site"
    echo "raft_address = $H:$((base + id))"
    echo "client_address = $H:$((base + 100 + id))"
    echo "http_address = $H:$((base + 200 + id))"
    echo "data_dir = $lab/node$id/data"
    [ "$site" = witness ] && echo "witness = true"
    echo
    echo "[raft]"
    echo "heartbeat_timeout_ms = ${CALLRAFT_HEARTBEAT_MS:-100}"
    echo "election_timeout_ms = ${CALLRAFT_ELECTION_MS:-1000}"
    echo "snapshot_threshold = ${CALLRAFT_SNAPSHOT_THRESHOLD:-4096}"
    echo "snapshot_trailing = ${CALLRAFT_SNAPSHOT_TRAILING:-8192}"
    echo
    echo "[log]"
    echo "level = ${CALLRAFT_LOG_LEVEL:-info}"
    echo
    # Extra sections for every node (tests: small maps and quotas, short client timeouts).
    [ -z "${CALLRAFT_NODE_INI_EXTRA:-}" ] || printf '%b\n\n' "$CALLRAFT_NODE_INI_EXTRA"
    echo "[tls]"
    if tls_on; then
      echo "ca = $certs/ca.crt"
      echo "cert = $certs/node$id.crt"
      echo "key = $certs/node$id.key"
    else
      echo "insecure = true"
    fi
    echo
    cat "$lab/members.ini"
  } > "$lab/node$id/node.ini"
}

# running PID: the process exists and has not exited. A node started by `start` is the child of
# no shell once this script returns, so its exit leaves a zombie until PID 1 reaps it (here that
# took 1.3-2 s); kill -0 still succeeds on a zombie, which holds no file, lock or port any more.
running() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) } # after the command name, which may hold spaces and parentheses
  [ "${stat%% *}" != Z ]
}

start_node() {
  local id=$1
  [ -f "$lab/node$id/node.ini" ] || { echo "cluster.sh: node $id has no config in $lab" >&2; exit 2; }
  if [ -f "$lab/node$id/pid" ] && running "$(cat "$lab/node$id/pid")"; then
    echo "cluster.sh: node $id already running (pid $(cat "$lab/node$id/pid"))"; return 0
  fi
  "$daemon" --config "$lab/node$id/node.ini" >>"$lab/node$id/log" 2>&1 &
  echo $! > "$lab/node$id/pid"
  echo "cluster.sh: node $id started (pid $!), clients on $H:$((base + 100 + id))"
}

addresses() {
  local out=""
  for d in "$lab"/node*/; do
    local id=${d%/}; id=${id##*node}
    out="$out${out:+,}$H:$((base + 100 + id))"
  done
  echo "$out"
}

wait_leader() { # seconds
  local deadline=$((SECONDS + $1))
  while [ $SECONDS -lt $deadline ]; do
    if "$cli" --cluster "$(addresses)" --json status 2>/dev/null | grep -q '"leader_id": *[1-9]'; then return 0; fi
    sleep 0.2
  done
  echo "cluster.sh: no leader after $1 s" >&2; return 1
}

cmd=${1:-}; shift || true
case "$cmd" in
  up|config)
    layout=${1:-2+2+1}; n=$(count_of "$layout")
    [ -x "$daemon" ] || { echo "cluster.sh: $daemon not built (run: cmake -B build && cmake --build build)" >&2; exit 2; }
    mkdir -p "$lab"
    if [ ! -f "$lab/members.ini" ]; then
      : > "$lab/members.ini"
      for i in $(seq 1 "$n"); do
        printf '[member %d]\nsite = %s\nraft_address = %s:%d\nclient_address = %s:%d\nhttp_address = %s:%d\n\n' \
          "$i" "$(site_of "$layout" "$i")" "$H" $((base + i)) "$H" $((base + 100 + i)) "$H" $((base + 200 + i)) >> "$lab/members.ini"
      done
      ensure_certs $(seq 1 "$n")
      for i in $(seq 1 "$n"); do write_config "$i" "$(site_of "$layout" "$i")"; done
    fi
    [ "$cmd" = up ] || { echo "cluster.sh: configs of $n nodes in $lab"; exit 0; }
    for d in "$lab"/node*/; do id=${d%/}; start_node "${id##*node}"; done
    wait_leader 20
    echo "cluster.sh: cluster up; for the CLI: eval \"\$($0 env)\""
    ;;
  env)
    echo "export CALLRAFT_CLUSTER=$(addresses)"
    if tls_on; then
      c=${1:-admin}
      [ -f "$certs/$c.crt" ] || { echo "cluster.sh: no client certificate '$c' in $certs" >&2; exit 2; }
      echo "export CALLRAFT_TLS_CA=$certs/ca.crt CALLRAFT_TLS_CERT=$certs/$c.crt CALLRAFT_TLS_KEY=$certs/$c.key"
    fi
    ;;
  start) start_node "$1" ;;
  new)
    id=$1 site=$2
    [ -f "$lab/members.ini" ] || { echo "cluster.sh: no cluster in $lab" >&2; exit 2; }
    ensure_certs "$id"; write_config "$id" "$site"; start_node "$id"
    echo "cluster.sh: now run: $cli --cluster $(addresses) members add $id --site $site --raft-address $H:$((base + id)) --client-address $H:$((base + 100 + id))"
    ;;
  kill)
    id=$1 sig=${2:-KILL}
    pid=$(cat "$lab/node$id/pid" 2>/dev/null || true)
    [ -n "$pid" ] || { echo "cluster.sh: node $id has no pid" >&2; exit 2; }
    kill -s "$sig" "$pid" 2>/dev/null || true
    if [ "$sig" = KILL ] || [ "$sig" = TERM ]; then
      # Gone before this returns: a node started next on the same data dir would find it locked
      # (exit 1), and a test that damages the stopped node's files would race its clean stop. A
      # clean stop is well under a second; on a loaded machine a niced node can take many more.
      limit=100; [ "$sig" = KILL ] || limit=600
      for _ in $(seq 1 "$limit"); do running "$pid" || break; sleep 0.1; done
      if running "$pid"; then
        echo "cluster.sh: node $id (pid $pid) still runs $((limit / 10)) s after SIG$sig" >&2; exit 1
      fi
      rm -f "$lab/node$id/pid"
    fi
    echo "cluster.sh: node $id (pid $pid) sent SIG$sig"
    ;;
  addresses) addresses ;;
  http-addresses)
    out=""
    for d in "$lab"/node*/; do id=${d%/}; id=${id##*node}; out="$out${out:+,}$H:$((base + 200 + id))"; done
    echo "$out" ;;
  status) "$cli" --cluster "$(addresses)" status "$@" ;;
  leader) "$cli" --cluster "$(addresses)" --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["leader_id"])' ;;
  down|wipe)
    for f in "$lab"/node*/pid; do
      [ -f "$f" ] || continue
      pid=$(cat "$f"); kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do running "$pid" || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
      rm -f "$f"
    done
    if [ "$cmd" = wipe ]; then rm -rf "$lab"; fi
    echo "cluster.sh: $cmd done"
    ;;
  *) sed -n '2,22p' "$0"; exit 2 ;;
esac
