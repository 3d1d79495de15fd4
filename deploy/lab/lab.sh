#!/usr/bin/env bash
# lab.sh: the three-city lab. Each site runs in its own network namespace with its own addresses
# (the addresses of deploy/configs/LAYOUT), linked by veth pairs to a router namespace, where a
# delay proxy (callraft-delayproxy) adds the inter-site latency that tc netem cannot on this kernel.
# Nodes run from the example configs, only data_dir changed.
#
#   lab.sh up [--layout 2+2+1|1+1+1] [--loopback] [--rtt-ms 12] [--witness-rtt-ms 20]
#   lab.sh show                      who runs where, raft roles and applied indexes
#   lab.sh nodes [SITE]              node ids (of one site)
#   lab.sh site-of NODE              a node's site
#   lab.sh cluster [SITE]            client addresses (of one site), comma-separated
#   lab.sh exec SITE CMD...          run a command inside a site (its namespace)
#   lab.sh cli NODE ARGS...          `callraft ARGS` against NODE, from NODE's site
#   lab.sh env [CLIENT]              export lines for the TLS files of CLIENT (admin, traffic)
#   lab.sh kill NODE [SIGNAL]        default KILL
#   lab.sh restart NODE              start NODE again from its data dir
#   lab.sh kill-site SITE | restart-site SITE
#   lab.sh cut SITE                  drop every packet into and out of SITE (iptables)
#   lab.sh cut-link A B              drop traffic between sites A and B only
#   lab.sh heal                      remove every cut (paused nodes stay paused)
#   lab.sh pause NODE | resume NODE  SIGSTOP / SIGCONT
#   lab.sh leader                    the leader's id (0: none); wait-leader [S] waits for one
#   lab.sh sites | mode | addr NODE  the lab's sites, ns or loopback, a node's client address
#   lab.sh down                      stop everything we started, delete namespaces; keeps data
#   lab.sh wipe                      down, then delete the lab directory
#
# Namespaces: <prefix>-router, <prefix>-<site>; in each site a veth "eth0" with 10.S.0.0/24
# (router 10.S.0.1, nodes 10.S.0.11, .12); the router REDIRECTs every TCP connection between
# sites to the delay proxy, which learns the original destination with SO_ORIGINAL_DST.
# --loopback (automatic when network namespaces are unavailable): every node on 127.0.0.1, ports BASE+id (raft),
# BASE+100+id (clients) and BASE+200+id (HTTP). There the config rule "[member N] equals [node]" leaves no place for a
# proxy between nodes, so raft links get NO latency; `cut` drops the site's ports on lo (the site
# cannot receive; what it sends still arrives), `cut-link` is not available.
#
# Environment: CALLRAFT_LAB (default /tmp/callraft-lab) state dir; CALLRAFT_BUILD (default
# ./build); CALLRAFT_LAB_NS (default cr) namespace prefix; CALLRAFT_PORT_BASE (loopback, 17000).
set -euo pipefail
shopt -s nullglob
here=$(cd "$(dirname "$0")/../.." && pwd)
lab=${CALLRAFT_LAB:-/tmp/callraft-lab}
build=${CALLRAFT_BUILD:-$here/build}
ns=${CALLRAFT_LAB_NS:-cr}
base=${CALLRAFT_PORT_BASE:-17000}
daemon=$build/callraftd
cli_bin=$build/callraft
proxy_bin=$build/callraft-delayproxy
proxy_port=9000

# TLS (docs/security.md): `up` makes a CA and certificates in $lab/certs; every node runs mutual
# TLS with the example configs' [tls] section; this script's CLI calls use the admin certificate.
certs=$lab/certs
if [ -z "${CALLRAFT_TLS_CERT:-}" ]; then
  export CALLRAFT_TLS_CA=$certs/ca.crt CALLRAFT_TLS_CERT=$certs/admin.crt CALLRAFT_TLS_KEY=$certs/admin.key
fi

die() { echo "lab.sh: $*" >&2; exit 2; }
say() { echo "lab.sh: $*"; }

# ---- lab description (written by `up`) ---------------------------------------------------------
mode() { cat "$lab/mode" 2>/dev/null || echo none; }
layout() { cat "$lab/layout"; }
all_nodes() { local d; for d in "$lab"/node*/; do d=${d%/}; echo "${d##*node}"; done | sort -n; }
site_of() { cat "$lab/node$1/site" 2>/dev/null || die "no node '$1' in $lab"; }
sites() { all_nodes | while read -r i; do site_of "$i"; done | awk '!seen[$0]++'; }
site_num() { case "$1" in tehran) echo 1;; shiraz) echo 2;; witness) echo 3;; *) die "unknown site '$1'";; esac; }
nodes_of() { local i; for i in $(all_nodes); do [ "$(site_of "$i")" = "$1" ] && echo "$i"; done; true; }
client_addr() { # NODE
  if [ "$(mode)" = loopback ]; then echo "127.0.0.1:$((base + 100 + $1))"
  else sed -n 's/^client_address = //p' "$lab/node$1/node.ini" | head -1; fi
}
in_site() { # SITE CMD...: run inside SITE's namespace (or here, in loopback mode)
  local s=$1; shift
  if [ "$(mode)" = ns ]; then ip netns exec "$ns-$s" "$@"; else "$@"; fi
}
cluster_of() { # [SITE]
  local out="" i
  for i in $(all_nodes); do
    if [ -z "${1:-}" ] || [ "$(site_of "$i")" = "$1" ]; then out="$out${out:+,}$(client_addr "$i")"; fi
  done
  echo "$out"
}
node_pid() { cat "$lab/node$1/pid" 2>/dev/null || true; }
running() { local p; p=$(node_pid "$1"); [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }

# ---- namespaces -------------------------------------------------------------------------------
ns_create() { # SITE...
  local s n
  ip netns add "$ns-router"
  ip -n "$ns-router" link set lo up
  ip netns exec "$ns-router" sysctl -qw net.ipv4.ip_forward=1
  for s in "$@"; do
    n=$(site_num "$s")
    ip netns add "$ns-$s"
    ip -n "$ns-$s" link set lo up
    ip -n "$ns-router" link add "r-$s" type veth peer name eth0 netns "$ns-$s"
    ip -n "$ns-router" addr add "10.$n.0.1/24" dev "r-$s"
    ip -n "$ns-router" link set "r-$s" up
    ip -n "$ns-$s" addr add "10.$n.0.11/24" dev eth0
    ip -n "$ns-$s" addr add "10.$n.0.12/24" dev eth0
    ip -n "$ns-$s" link set eth0 up
    ip -n "$ns-$s" route add default via "10.$n.0.1"
  done
  # Every TCP connection from one site to another ends at the delay proxy.
  ip netns exec "$ns-router" iptables -t nat -A PREROUTING -p tcp -m addrtype ! --dst-type LOCAL \
    -j REDIRECT --to-ports "$proxy_port"
}

ns_delete() {
  local n
  for n in $(ip netns list 2>/dev/null | awk '{print $1}'); do
    case "$n" in "$ns"-router|"$ns"-tehran|"$ns"-shiraz|"$ns"-witness) ip netns delete "$n" || true;; esac
  done
}

start_proxy() {
  local args=() s
  for s in $(sites); do args+=(--site "$s=10.$(site_num "$s").0.0/24"); done
  args+=(--delay "tehran:shiraz=$(cat "$lab/one_way_ms")" --delay "tehran:witness=$(cat "$lab/one_way_witness_ms")"
         --delay "shiraz:witness=$(cat "$lab/one_way_witness_ms")")
  (exec ip netns exec "$ns-router" "$proxy_bin" --transparent "0.0.0.0:$proxy_port" "${args[@]}" \
    >>"$lab/proxy.log" 2>&1) &
  echo $! > "$lab/proxy.pid"
}

# ---- nodes -----------------------------------------------------------------------------------
write_config() { # NODE: the example config with this lab's data_dir (and loopback addresses)
  local i=$1 src="$here/deploy/configs/$(layout)/node$1.ini" dst="$lab/node$1/node.ini"
  mkdir -p "$lab/node$i"
  sed "s|^data_dir = .*|data_dir = $lab/node$i/data|" "$src" > "$dst"
  if [ "$(mode)" = loopback ]; then
    local j a
    for j in $(seq 1 9); do
      a=$(sed -n "/^\[member $j\]/,/^\[/s/^raft_address = \([0-9.]*\):.*/\1/p" "$src")
      [ -n "$a" ] || continue
      sed -i "s|$a:7001|127.0.0.1:$((base + j))|; s|$a:8001|127.0.0.1:$((base + 100 + j))|; s|$a:808[01]|127.0.0.1:$((base + 200 + j))|" "$dst"
    done
  fi
  sed -n 's/^site = //p' "$src" | head -1 > "$lab/node$i/site"
  # The config names certs/ relative to itself: the lab's one set of certificates.
  ln -sfn "$certs" "$lab/node$i/certs"
  local host
  host=$(sed -n 's/^raft_address = \([0-9.]*\):.*/\1/p' "$src" | head -1)
  [ -f "$certs/node$i.crt" ] ||
    "$here/deploy/certs.sh" issue "$certs" node "$i" "$host,127.0.0.1,::1,localhost" >/dev/null
}

start_node() {
  local i=$1
  if running "$i"; then say "node $i already running (pid $(node_pid "$i"))"; return 0; fi
  # The subshell execs `ip netns exec`, which execs the daemon: $! is the daemon's own pid.
  if [ "$(mode)" = ns ]; then
    (exec ip netns exec "$ns-$(site_of "$i")" "$daemon" --config "$lab/node$i/node.ini" >>"$lab/node$i/log" 2>&1) &
  else
    (exec "$daemon" --config "$lab/node$i/node.ini" >>"$lab/node$i/log" 2>&1) &
  fi
  echo $! > "$lab/node$i/pid"
  rm -f "$lab/node$i/paused"
  say "node $i ($(site_of "$i")) started, pid $!, clients on $(client_addr "$i")"
}

stop_node() { # NODE SIGNAL
  local i=$1 sig=${2:-KILL} p
  p=$(node_pid "$i")
  [ -n "$p" ] || { say "node $i is not running"; return 0; }
  kill -CONT "$p" 2>/dev/null || true
  kill -s "$sig" "$p" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$p" 2>/dev/null; then kill -KILL "$p" 2>/dev/null || true; sleep 0.2; fi
  rm -f "$lab/node$i/pid" "$lab/node$i/paused"
  say "node $i (pid $p) stopped with SIG$sig"
}

leader() {
  local i
  for i in $(all_nodes); do
    running "$i" || continue
    local l
    l=$(in_site "$(site_of "$i")" "$cli_bin" --cluster "$(client_addr "$i")" --timeout 2000 --json status 2>/dev/null |
        python3 -c 'import json,sys; print(json.load(sys.stdin).get("leader_id",0))' 2>/dev/null || true)
    if [ -n "$l" ] && [ "$l" != 0 ]; then echo "$l"; return 0; fi
  done
  echo 0
}

wait_leader() { # SECONDS
  local deadline=$((SECONDS + $1))
  while [ $SECONDS -lt $deadline ]; do [ "$(leader)" != 0 ] && return 0; sleep 0.3; done
  die "no leader after $1 s"
}

# ---- faults -----------------------------------------------------------------------------------
ipt_lo() { iptables -w "$@"; } # loopback mode: the host's own tables, our chain only
lo_chain="callraft-lab-$base"

cut_site() {
  local s=$1 i
  if [ "$(mode)" = ns ]; then
    ip netns exec "$ns-$s" iptables -w -I INPUT ! -i lo -j DROP
    ip netns exec "$ns-$s" iptables -w -I OUTPUT ! -o lo -j DROP
  else
    for i in $(nodes_of "$s"); do
      for p in $((base + i)) $((base + 100 + i)) $((base + 200 + i)); do
        ipt_lo -A "$lo_chain" -p tcp --dport "$p" -j DROP
        ipt_lo -A "$lo_chain" -p tcp --sport "$p" -j DROP
      done
    done
  fi
  echo "site $s" >> "$lab/cuts"
  say "site $s cut off"
}

cut_link() {
  local a=$1 b=$2 na nb x y
  [ "$(mode)" = ns ] || die "cut-link needs namespaces (not available in --loopback mode)"
  na=$(site_num "$a"); nb=$(site_num "$b")
  # Both legs of a proxied connection keep their original tuple in conntrack: match on it.
  for x in "$na:$nb" "$nb:$na"; do
    y=${x#*:}; x=${x%:*}
    for chain in INPUT OUTPUT; do
      ip netns exec "$ns-router" iptables -w -I "$chain" -m conntrack --ctorigsrc "10.$x.0.0/24" \
        --ctorigdst "10.$y.0.0/24" -j DROP
    done
  done
  echo "link $a $b" >> "$lab/cuts"
  say "link $a <-> $b cut"
}

heal() {
  local s
  if [ "$(mode)" = ns ]; then
    for s in $(sites); do ip netns exec "$ns-$s" iptables -w -F; done
    ip netns exec "$ns-router" iptables -w -F
  elif [ "$(mode)" = loopback ]; then
    ipt_lo -F "$lo_chain" 2>/dev/null || true
  fi
  rm -f "$lab/cuts"
  say "healed: no cuts"
}

show() {
  say "mode $(mode), layout $(layout), lab $lab"
  [ -f "$lab/cuts" ] && say "cuts: $(tr '\n' ';' < "$lab/cuts")"
  local i
  for i in $(all_nodes); do
    local st="down" extra=""
    if running "$i"; then
      st="up pid $(node_pid "$i")"
      [ -f "$lab/node$i/paused" ] && st="$st PAUSED"
      extra=$(in_site "$(site_of "$i")" "$cli_bin" --cluster "$(client_addr "$i")" --timeout 1500 --stale --json status 2>/dev/null |
        python3 -c '
import json,sys
d=json.load(sys.stdin); me=d["answered_by"]
m=[m for m in d["members"] if m["id"]==me][0]
print("%s term=%s leader=%s applied=%s" % (m.get("state","?"), m.get("term","?"), m.get("leader_id","?"), m.get("applied_index","?")))' 2>/dev/null || echo "no answer")
    fi
    printf 'node %s  %-8s %-22s %-24s %s\n' "$i" "$(site_of "$i")" "$(client_addr "$i")" "$st" "$extra"
  done
}

down() {
  local i
  for i in $(all_nodes); do running "$i" && stop_node "$i" TERM >/dev/null; rm -f "$lab/node$i/pid"; done
  if [ -f "$lab/proxy.pid" ]; then
    local p; p=$(cat "$lab/proxy.pid")
    kill -TERM "$p" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
    rm -f "$lab/proxy.pid"
  fi
  if [ "$(mode)" = ns ]; then ns_delete
  elif [ "$(mode)" = loopback ] && iptables -w -n -L "$lo_chain" >/dev/null 2>&1; then
    iptables -w -D INPUT -i lo -j "$lo_chain" 2>/dev/null || true
    iptables -w -F "$lo_chain"; iptables -w -X "$lo_chain"
  fi
  rm -f "$lab/cuts"
  say "down: nothing of the lab is running"
}

up() {
  local lay=2+2+1 loop=0 rtt=12 wrtt=20
  while [ $# -gt 0 ]; do
    case "$1" in
      --layout) lay=$2; shift 2;;
      --loopback) loop=1; shift;;
      --rtt-ms) rtt=$2; shift 2;;
      --witness-rtt-ms) wrtt=$2; shift 2;;
      *) die "up: unknown option '$1'";;
    esac
  done
  [ -d "$here/deploy/configs/$lay" ] || die "unknown layout '$lay' (2+2+1 or 1+1+1)"
  for b in "$daemon" "$cli_bin" "$proxy_bin"; do [ -x "$b" ] || die "$b not built (CALLRAFT_BUILD=$build)"; done
  for i in $(all_nodes); do running "$i" && die "a lab is already up in $lab (lab.sh down first)"; done
  rm -rf "$lab"/node*/
  mkdir -p "$lab"
  echo "$lay" > "$lab/layout"
  echo $((rtt / 2)) > "$lab/one_way_ms"; echo $((wrtt / 2)) > "$lab/one_way_witness_ms"
  # Creating a namespace and running in it must both work (in a chroot `ip netns exec` fails).
  local netns_mounted=0
  mountpoint -q /run/netns 2>/dev/null && netns_mounted=1
  if [ $loop = 0 ] && ip netns add "$ns-probe" 2>/dev/null && ip netns exec "$ns-probe" true 2>/dev/null; then
    ip netns delete "$ns-probe"
    echo ns > "$lab/mode"
  else
    ip netns delete "$ns-probe" 2>/dev/null || true
    # `ip netns add` mounted /run/netns: leave the system as we found it.
    [ $netns_mounted = 1 ] || [ $loop = 1 ] || umount /run/netns 2>/dev/null || true
    [ $loop = 1 ] || say "network namespaces unavailable: falling back to --loopback"
    echo loopback > "$lab/mode"
  fi
  local f i c
  [ -f "$certs/ca.crt" ] || "$here/deploy/certs.sh" init "$certs" >/dev/null
  for c in admin:admin traffic:pbx,agent,supervisor; do
    [ -f "$certs/${c%%:*}.crt" ] || "$here/deploy/certs.sh" issue "$certs" client "${c%%:*}" "${c#*:}" >/dev/null
  done
  for f in "$here/deploy/configs/$lay"/node*.ini; do
    i=$(basename "$f" .ini); i=${i#node}
    write_config "$i"
  done
  if [ "$(mode)" = ns ]; then
    ns_delete
    ns_create $(sites)
    start_proxy
    say "namespaces $ns-{router,$(sites | paste -sd, -)}; RTT tehran-shiraz ${rtt} ms, to witness ${wrtt} ms"
  else
    if iptables -w -N "$lo_chain" 2>/dev/null; then iptables -w -I INPUT -i lo -j "$lo_chain"; fi
    say "loopback mode: no inter-site latency on raft links (see lab.sh header)"
  fi
  for i in $(all_nodes); do start_node "$i"; done
  wait_leader 30
  say "cluster up, leader $(leader); clients of a site: lab.sh cluster SITE"
}

cmd=${1:-}; shift || true
case "$cmd" in
  up) up "$@" ;;
  show) show ;;
  nodes) if [ -n "${1:-}" ]; then nodes_of "$1"; else all_nodes; fi ;;
  sites) sites ;;
  site-of) site_of "$1" ;;
  mode) mode ;;
  cluster) cluster_of "${1:-}" ;;
  addr) client_addr "$1" ;;
  exec) s=$1; shift; in_site "$s" "$@" ;;
  env) echo "export CALLRAFT_TLS_CA=$certs/ca.crt CALLRAFT_TLS_CERT=$certs/${1:-admin}.crt CALLRAFT_TLS_KEY=$certs/${1:-admin}.key" ;;
  cli) i=$1; shift; in_site "$(site_of "$i")" "$cli_bin" --cluster "$(client_addr "$i")" "$@" ;;
  kill) stop_node "$1" "${2:-KILL}" ;;
  restart) start_node "$1" ;;
  kill-site) # all at once, as a site losing power: signal every node first, then wait
    for i in $(nodes_of "$1"); do p=$(node_pid "$i"); [ -n "$p" ] && kill -KILL "$p" 2>/dev/null || true; done
    for i in $(nodes_of "$1"); do stop_node "$i" KILL; done ;;
  restart-site) for i in $(nodes_of "$1"); do start_node "$i"; done ;;
  cut) cut_site "$1" ;;
  cut-link) cut_link "$1" "$2" ;;
  heal) heal ;;
  pause) p=$(node_pid "$1"); [ -n "$p" ] || die "node $1 is not running"; kill -STOP "$p"; touch "$lab/node$1/paused"; say "node $1 paused" ;;
  resume) p=$(node_pid "$1"); [ -n "$p" ] || die "node $1 is not running"; kill -CONT "$p"; rm -f "$lab/node$1/paused"; say "node $1 resumed" ;;
  leader) leader ;;
  wait-leader) wait_leader "${1:-30}" ;;
  down) down ;;
  wipe) down; rm -rf "$lab"; say "wiped $lab" ;;
  *) sed -n '2,35p' "$0"; exit 2 ;;
esac
