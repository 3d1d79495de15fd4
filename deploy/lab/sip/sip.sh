#!/usr/bin/env bash
# sip.sh: real telephony in the namespace lab (issue 17, docs/telephony.md): a carrier, a SIP
# server (Kamailio) per call-center site in front of its callraft nodes, agents' phones and callers
# (SIPp), on top of deploy/lab/lab.sh.
#
#   sip.sh up [--agents N]            the lab (lab.sh up, if none is up), then the SIP layer: N agents
#                                     per site (default 6: odd ones sales, even ones support)
#   sip.sh calls --rate R --count N [--out DIR] [--run TAG] [--impatient PCT] [--csv FILE] [--port P]
#                                     N callers at R calls/s from the carrier's side, bounded in time
#                                     (waits for them; SIPp statistics and logs in DIR)
#   sip.sh calls-bg ...               the same in the background (its process group in DIR/caller.pid)
#   sip.sh stop-callers DIR           stops those background callers (their process group, SIPp too)
#   sip.sh kill-site SITE             SIGKILL of a whole site: its nodes, its SIP server, its phones, desktops
#   sip.sh register                   every phone registers again (its agent ready again, also after a reject)
#   sip.sh ready                      waits (at most 60 s) until every agent is ready; fails if one is not
#   sip.sh offer-timeout MS           the queues' offer_timeout_ms (up sets ring + 7 s; test_sip sets
#                                     less than a slow phone's ring, to answer expired offers)
#   sip.sh call CALL-ID               callraft's record of a call (JSON, from a node of a live site)
#   sip.sh collect DIR [SITE]         callraft's events, agents, phones' and carrier's logs into DIR
#                                     (for check_sip.py)
#   sip.sh show                       what runs
#   sip.sh down                       stop everything of the SIP layer, then lab.sh down
#
# Addresses: carrier namespace <prefix>-carrier (10.4.0.0/24 behind the lab's router): callers
# 10.4.0.10, carrier Kamailio 10.4.0.20:5060. In each call-center site S (10.S.0.0/24): the site's
# Kamailio on 10.S.0.20:5060, its agents' phones (one SIPp UAS) on 10.S.0.30:5080. The center's
# numbers: 1000 (queue sales), 2000 (queue support). Agents: <site>-ag<i>.
#
# Environment: as lab.sh (CALLRAFT_LAB, CALLRAFT_LAB_NS, CALLRAFT_BUILD); SIP state in $CALLRAFT_LAB/sip.
# Tunables (environment): SIP_RING_MS (8000), SIP_WAIT_MS (5000), SIP_HOLD_ROUNDS (12),
# SIP_CHILDREN (16), SIP_ASYNC_WORKERS (48), SIP_PROBE_S (1), SIP_PROBE_FAILS (2), SIP_PROBE_TIMEOUT_MS (3000),
# SIP_NO_REPLY_MS (1500), SIP_API_TRIES (10), SIP_MAX_RINGS (6), SIP_LATE_MARGIN_MS (200), SIP_HB_FAILS (3),
# SIP_PROBE_PORT (5061: each site's socket for the carrier's probes), SIP_PROBE_WORKERS (2),
# SIP_ORPHAN_GRACE_MS (30000), SIP_DESKTOPS (1; 0: no desktops, idle agents' leases lapse).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
lab=${CALLRAFT_LAB:-/tmp/callraft-lab}
ns=${CALLRAFT_LAB_NS:-cr}
labsh=$root/deploy/lab/lab.sh
sip=$lab/sip
certs=$lab/certs
call_sites="tehran shiraz"

die() { echo "sip.sh: $*" >&2; exit 2; }
say() { echo "sip.sh: $*"; }

site_num() { case "$1" in tehran) echo 1;; shiraz) echo 2;; *) die "unknown site '$1'";; esac; }
in_ns() { local n=$1; shift; ip netns exec "$ns-$n" "$@"; }
admin_curl() { # SITE ARGS...: curl from inside SITE with the lab's admin certificate
  local s=$1; shift
  in_ns "$s" curl -sS --max-time 15 --retry 5 --retry-delay 1 --cacert "$certs/ca.crt" \
    --cert "$certs/admin.crt" --key "$certs/admin.key" "$@"
}
node_url() { echo "https://$(sed -n 's/^http_address = //p' "$lab/node$1/node.ini" | head -1)"; }

# Starts CMD in its own session (so a site kill takes every process of it: kill -- -PGID) and
# records the pid (= the process group) in FILE.
start_group() { # PIDFILE LOG CMD...
  local pidfile=$1 log=$2; shift 2
  setsid "$@" >>"$log" 2>&1 < /dev/null &
  echo $! > "$pidfile"
}
stop_group() { # PIDFILE [SIGNAL]
  local p
  p=$(cat "$1" 2>/dev/null) || return 0
  kill -"${2:-TERM}" -- "-$p" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$p" 2>/dev/null || true
  rm -f "$1"
}

ns_carrier_create() {
  ip netns add "$ns-carrier"
  ip -n "$ns-carrier" link set lo up
  ip -n "$ns-router" link add r-carrier type veth peer name eth0 netns "$ns-carrier"
  ip -n "$ns-router" addr add 10.4.0.1/24 dev r-carrier
  ip -n "$ns-router" link set r-carrier up
  ip -n "$ns-carrier" addr add 10.4.0.10/24 dev eth0
  ip -n "$ns-carrier" addr add 10.4.0.20/24 dev eth0
  ip -n "$ns-carrier" link set eth0 up
  ip -n "$ns-carrier" route add default via 10.4.0.1
}

write_site_local() { # SITE
  local s=$1 n d nodes a b peers="" p
  n=$(site_num "$s"); d=$sip/$s
  for p in $call_sites; do [ "$p" = "$s" ] || peers="$peers${peers:+;}$p=10.$(site_num "$p").0.20:5060"; done
  nodes=$("$labsh" nodes "$s")
  a=$(echo "$nodes" | sed -n 1p); b=$(echo "$nodes" | sed -n 2p); b=${b:-$a}
  cp "$here/site.cfg" "$d/kamailio.cfg"
  cat > "$d/site-local.cfg" <<EOF
# site-local.cfg: the settings of site $s's SIP server (written by deploy/lab/sip/sip.sh).
#!substdef "!SITE!$s!"
#!substdef "!SIP_ADDR!10.$n.0.20!"
#!substdef "!PROBE_PORT!${SIP_PROBE_PORT:-5061}!"
#!substdef "!PROBE_WORKERS!${SIP_PROBE_WORKERS:-2}!"
#!substdef "!NODE_A!$(node_url "$a")!"
#!substdef "!NODE_B!$(node_url "$b")!"
#!substdef "!TLS_CA!$certs/ca.crt!"
#!substdef "!TLS_CERT!$certs/sip-$s.crt!"
#!substdef "!TLS_KEY!$certs/sip-$s.key!"
#!substdef "!CHILDREN!${SIP_CHILDREN:-16}!"
#!substdef "!ASYNC_WORKERS!${SIP_ASYNC_WORKERS:-48}!"
#!substdef "!WAIT_MS!${SIP_WAIT_MS:-5000}!"
#!substdef "!HOLD_ROUNDS!${SIP_HOLD_ROUNDS:-12}!"
#!substdef "!RING_MS!${SIP_RING_MS:-8000}!"
#!substdef "!HOLD_TIMER_MS!$(( (${SIP_HOLD_ROUNDS:-12} + 2) * ${SIP_WAIT_MS:-5000} + 10000 ))!"
#!substdef "!API_TRIES!${SIP_API_TRIES:-10}!"
#!substdef "!MAX_RINGS!${SIP_MAX_RINGS:-6}!"
#!substdef "!LATE_MARGIN_MS!${SIP_LATE_MARGIN_MS:-200}!"
#!substdef "!HB_FAILS!${SIP_HB_FAILS:-3}!"
#!substdef "!ORPHAN_GRACE!${SIP_ORPHAN_GRACE_MS:-30000}!"
#!substdef "!PEER_SITES!$peers!"
#!substdef "!HTTP_TIMEOUT_S!$(( ${SIP_WAIT_MS:-5000} / 1000 + 4 ))!"
EOF
}

write_carrier_local() {
  local d=$sip/carrier s
  cp "$here/carrier.cfg" "$d/kamailio.cfg"
  : > "$d/dispatcher.list"
  # obproxy: the probes (OPTIONS) go to the site's probe socket, whose workers never wait on
  # callraft (site.cfg); the calls to its SIP socket.
  for s in $call_sites; do
    echo "1 sip:10.$(site_num "$s").0.20:5060 0 0 site=$s;obproxy=sip:10.$(site_num "$s").0.20:${SIP_PROBE_PORT:-5061}" >> "$d/dispatcher.list"
  done
  cat > "$d/carrier-local.cfg" <<EOF
# carrier-local.cfg: the carrier's settings (written by deploy/lab/sip/sip.sh).
#!substdef "!CARRIER_ADDR!10.4.0.20!"
#!substdef "!DS_LIST!$d/dispatcher.list!"
#!substdef "!PROBE_S!${SIP_PROBE_S:-1}!"
#!substdef "!PROBE_FAILS!${SIP_PROBE_FAILS:-2}!"
#!substdef "!NO_REPLY_MS!${SIP_NO_REPLY_MS:-1500}!"
#!substdef "!PROBE_TIMEOUT_MS!${SIP_PROBE_TIMEOUT_MS:-3000}!"
EOF
}

kamailio_start() { # NAMESPACE DIR
  local n=$1 d=$2
  mkdir -p "$d/run"
  kamailio -c -f "$d/kamailio.cfg" >"$d/check.log" 2>&1 || { cat "$d/check.log" >&2; die "kamailio config check failed ($d)"; }
  start_group "$d/kamailio.pid" "$d/kamailio.log" ip netns exec "$ns-$n" \
    kamailio -f "$d/kamailio.cfg" -DD -E -Y "$d/run" -m 96 -M 8
}

agents_of() { # SITE COUNT: one agent id a line
  local i; for i in $(seq 1 "$2"); do echo "$1-ag$i"; done
}

up() {
  local agents=6
  while [ $# -gt 0 ]; do
    case "$1" in
      --agents) agents=$2; shift 2;;
      *) die "up: unknown option '$1'";;
    esac
  done
  command -v kamailio >/dev/null && command -v sipp >/dev/null ||
    die "kamailio and sipp are needed (deploy/install-deps.sh installs them)"
  local running=0 f
  for f in "$lab"/node*/pid; do [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null && running=1; done
  [ $running = 1 ] || "$labsh" up
  [ "$("$labsh" mode)" = ns ] || die "the SIP lab needs network namespaces (lab.sh mode is $("$labsh" mode))"
  [ -e "$sip/up" ] && die "a SIP lab is already up in $sip (sip.sh down first)"
  rm -rf "$sip"; mkdir -p "$sip/carrier"
  ip netns list | grep -q "^$ns-carrier\b" && ip netns delete "$ns-carrier"
  ns_carrier_create
  touch "$sip/up"
  echo "$agents" > "$sip/agents"
  local s n i
  for s in $call_sites; do
    n=$(site_num "$s"); mkdir -p "$sip/$s"
    ip -n "$ns-$s" addr add "10.$n.0.20/24" dev eth0
    ip -n "$ns-$s" addr add "10.$n.0.30/24" dev eth0
    # Role pbx for the whole center, not --site: a site's SIP server answers and rejects offers
    # made to agents of the other site too (the calls it queued and rang there).
    [ -f "$certs/sip-$s.crt" ] || "$root/deploy/certs.sh" issue "$certs" client "sip-$s" pbx >/dev/null
    write_site_local "$s"
  done
  # The queues: offers outlive the ring timeout (site.cfg), so callraft never re-offers a call
  # whose phone still rings.
  local offer_ms=$(( ${SIP_RING_MS:-8000} + 7000 ))
  for q in sales support; do
    admin_curl tehran -f -o /dev/null -X POST "$(node_url 1)/v1/queues/$q/configure" \
      -H "Idempotency-Key: sip-lab-$q-$(date +%s%N)" -d "{\"offer_timeout_ms\": $offer_ms}"
  done
  # The agents log in (their desktops: site and skills); their phones' registrations make them ready.
  for s in $call_sites; do
    local a=$(( $(site_num "$s") * 2 - 1 ))
    i=0
    for ag in $(agents_of "$s" "$agents"); do
      i=$((i + 1))
      local skill=sales; [ $((i % 2)) = 0 ] && skill=support
      admin_curl "$s" -f -o /dev/null -X POST "$(node_url $a)/v1/agents/$ag/login" \
        -H "Idempotency-Key: sip-lab-$ag-login-$(date +%s%N)" \
        -d "{\"name\": \"$ag\", \"site\": \"$s\", \"skills\": [\"$skill\"]}"
      echo "$ag;10.$(site_num "$s").0.30:5080" >> "$sip/$s/agents.csv.body"
    done
    { echo SEQUENTIAL; cat "$sip/$s/agents.csv.body"; } > "$sip/$s/agents.csv"; rm -f "$sip/$s/agents.csv.body"
    kamailio_start "$s" "$sip/$s"
  done
  write_carrier_local
  kamailio_start carrier "$sip/carrier"
  sleep 2
  for s in $call_sites; do
    n=$(site_num "$s")
    # In the foreground of its own session (its screen to /dev/null): the pid is the process group.
    start_group "$sip/$s/phones.pid" /dev/null ip netns exec "$ns-$s" \
      sipp -sf "$here/phone.xml" -i "10.$n.0.30" -p 5080 -nostdin -trace_logs \
      -log_file "$sip/$s/phones.log" -trace_err -error_file "$sip/$s/phones.err" -timeout 7200s
    sleep 0.5
    kill -0 "$(cat "$sip/$s/phones.pid")" 2>/dev/null ||
      { cat "$sip/$s/phones.err" >&2; die "the phones of $s did not start (sipp)"; }
    register_site "$s"
    [ "${SIP_DESKTOPS:-1}" = 0 ] || start_desktops "$s"
  done
  wait_ready
  say "SIP lab up: carrier 10.4.0.20 (dial 1000 sales, 2000 support), sites $(echo $call_sites), $agents agents each, all ready"
}

# The agents' desktops of SITE (desktops.py, in the site's namespace, its own process group): they
# renew each idle agent's presence lease, as deployed desktops do.
start_desktops() { # SITE
  local s=$1 n nodes a b
  n=$(site_num "$s"); nodes=$("$labsh" nodes "$s")
  a=$(echo "$nodes" | sed -n 1p); b=$(echo "$nodes" | sed -n 2p); b=${b:-$a}
  start_group "$sip/$s/desktops.pid" "$sip/$s/desktops.log" ip netns exec "$ns-$s" \
    python3 "$here/desktops.py" --site "$s" --url "$(node_url "$a")" --url "$(node_url "$b")" \
    --ca "$certs/ca.crt" --cert "$certs/admin.crt" --key "$certs/admin.key" --for 7200
}

register_site() { # SITE: every agent's phone of SITE registers (its agent becomes ready)
  local s=$1 n agents
  n=$(site_num "$s"); agents=$(cat "$sip/agents")
  in_ns "$s" sipp -sf "$here/register.xml" "10.$n.0.20:5060" -i "10.$n.0.30" -p 5081 \
    -inf "$sip/$s/agents.csv" -m "$agents" -r 20 -nostdin -trace_logs \
    -log_file "$sip/$s/register.log" -timeout 90s >"$sip/$s/register.out" 2>&1 ||
    { cat "$sip/$s/register.out" >&2; die "registration of $s's phones failed"; }
}

wait_ready() { # until every agent is ready (AVAILABLE, push), at most 60 s
  local agents deadline ready
  agents=$(cat "$sip/agents"); deadline=$((SECONDS + 60))
  while [ $SECONDS -lt $deadline ]; do
    ready=$(admin_curl tehran "$(node_url 1)/v1/agents?stale=true" | python3 -c '
import json,sys; print(sum(1 for a in json.load(sys.stdin)["agents"] if a.get("push") and a.get("state") == "AVAILABLE"))')
    [ "$ready" -ge $((agents * 2)) ] && break
    sleep 0.5
  done
  [ "${ready:-0}" -ge $((agents * 2)) ] || die "only ${ready:-0} of $((agents * 2)) agents ready after 60 s"
}

# The phones register again: each agent becomes ready (AVAILABLE, push) again, also one whose phone
# rejected or did not answer an offer (not ready until its phone registers again). Idle agents'
# presence leases are kept by their desktops (desktops.py).
register() {
  local s
  for s in $call_sites; do register_site "$s"; done
  wait_ready
  say "phones registered again: every agent ready"
}

offer_timeout() { # MS
  local q
  for q in sales support; do
    admin_curl tehran -f -o /dev/null -X POST "$(node_url 1)/v1/queues/$q/configure" \
      -H "Idempotency-Key: sip-lab-$q-$(date +%s%N)" -d "{\"offer_timeout_ms\": $1}"
  done
  say "queues sales, support: offer_timeout_ms $1"
}

call_record() { # CALL-ID
  admin_curl tehran -f "$(node_url 1)/v1/calls/$1"
}

calls() { # --rate R --count N [--out DIR] [--run TAG] [--bg] [--csv FILE] [--port P]
  local rate=2 count=10 out=$sip/calls run bg=0 impatient=10 csv="" port=5070
  run=r$(date +%s)
  while [ $# -gt 0 ]; do
    case "$1" in
      --rate) rate=$2; shift 2;;
      --count) count=$2; shift 2;;
      --out) out=$2; shift 2;;
      --run) run=$2; shift 2;;
      --impatient) impatient=$2; shift 2;;
      --bg) bg=1; shift;;
      --csv) csv=$2; shift 2;;
      --port) port=$2; shift 2;;
      *) die "calls: unknown option '$1'";;
    esac
  done
  [ -e "$sip/up" ] || die "no SIP lab up (sip.sh up)"
  mkdir -p "$out"
  # Callers: 60 % dial sales, 40 % support; numbers +98917<7 digits>; --impatient PCT of them
  # hang up while waiting (half after 1.5 s, half after 4 s), taken from the later two thirds of
  # the run (when a queue has built up); the choices are seeded by the run tag.
  # (--csv: these callers instead, caller.xml's fields; the drill's redials.)
  if [ -n "$csv" ]; then cp "$csv" "$out/callers.csv"; else
  python3 - "$count" "$run" "$impatient" > "$out/callers.csv" <<'PY'
import random, sys
n, run, imp = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
rnd = random.Random(run)
late = list(range(n // 3, n))
k = min(len(late), round(n * imp / 100))
impatient = rnd.sample(late, k)
print("SEQUENTIAL")
for i in range(n):
    cls = "patient" if i not in impatient else "short" if impatient.index(i) % 2 == 0 else "long"
    print("%s;+98917%07d;%s" % ("1000" if rnd.random() < 0.6 else "2000", rnd.randrange(10**7), cls))
PY
  fi
  # Bounded: N calls, and the whole run within N/R + 120 s.
  local limit=$(( count / (rate > 0 ? rate : 1) + 120 ))
  local cmd=(ip netns exec "$ns-carrier" sipp -sf "$here/caller.xml" 10.4.0.20:5060 -i 10.4.0.10 -p "$port"
             -inf "$out/callers.csv" -r "$rate" -m "$count" -l 2000 -key run "$run" -cid_str "$run-%u@%s"
             -nostdin -trace_logs -log_file "$out/callers.log" -trace_stat -stf "$out/callers-stat.csv" -fd 1
             -trace_err -error_file "$out/callers.err" -timeout "${limit}s")
  echo "$run" > "$out/run"
  if [ $bg = 1 ]; then
    # In its own session (setsid): caller.pid is its process group, which stop-callers (and down)
    # signals as a whole, SIPp included (a kill of the pid alone left SIPp running).
    setsid bash -c '"$@" > "$0/caller.out" 2>&1; echo $? > "$0/caller.rc"' "$out" "${cmd[@]}" < /dev/null &
    echo $! > "$out/caller.pid"
    say "callers started: $count at $rate/s, run $run, output in $out"
  else
    local rc=0
    "${cmd[@]}" > "$out/caller.out" 2>&1 || rc=$?
    echo $rc > "$out/caller.rc"
    say "callers done (sipp exit $rc): $(grep -c ' ANSWERED ' "$out/callers.log" || true) answered of $count; logs in $out"
  fi
}

kill_site() {
  local s=$1 p
  # As a site losing power: every process of it, at once.
  for f in "$sip/$s/kamailio.pid" "$sip/$s/phones.pid" "$sip/$s/desktops.pid"; do
    p=$(cat "$f" 2>/dev/null) && kill -KILL -- "-$p" 2>/dev/null || true
  done
  "$labsh" kill-site "$s"
  rm -f "$sip/$s/kamailio.pid" "$sip/$s/phones.pid" "$sip/$s/desktops.pid"
  say "site $s killed (nodes, SIP server, phones, desktops)"
}

# Saves what check_sip.py reads into DIR: callraft's event stream from the start (from a node of
# SITE, or of the first site with a running node), every agent, the phones' and carrier's logs.
collect() { # DIR [SITE]
  local out=$1 s=${2:-} i node=""
  mkdir -p "$out"
  for i in $("$labsh" nodes ${s:+"$s"}); do
    if [ -f "$lab/node$i/pid" ] && kill -0 "$(cat "$lab/node$i/pid")" 2>/dev/null; then node=$i; break; fi
  done
  [ -n "$node" ] || die "collect: no running node${s:+ in $s}"
  s=$("$labsh" site-of "$node")
  in_ns "$s" curl -sN --max-time 6 --cacert "$certs/ca.crt" --cert "$certs/admin.crt" --key "$certs/admin.key" \
    "$(node_url "$node")/v1/events?from=1" > "$out/events.sse" || true
  admin_curl "$s" -f "$(node_url "$node")/v1/agents?stale=true" > "$out/agents.json"
  for s in $call_sites; do cp "$sip/$s/phones.log" "$out/phones-$s.log" 2>/dev/null || : > "$out/phones-$s.log"
    cp "$sip/$s/kamailio.log" "$out/kamailio-$s.log" 2>/dev/null || true; done
  cp "$sip/carrier/kamailio.log" "$out/kamailio-carrier.log"
  say "collected into $out (events from node $node)"
}

show() {
  local f p
  for f in "$sip"/*/kamailio.pid "$sip"/*/phones.pid "$sip"/*/desktops.pid; do
    p=$(cat "$f" 2>/dev/null) || continue
    if kill -0 "$p" 2>/dev/null; then echo "$f: up (pid $p)"; else echo "$f: gone (pid $p)"; fi
  done
  "$labsh" show
}

# Stops the background callers whose output is in DIR (sip.sh calls-bg --out DIR): their whole
# process group (SIPp too), TERM then KILL after 5 s. Only that group: its pid was recorded at start.
stop_callers() { # DIR
  [ -f "$1/caller.pid" ] || return 0
  stop_group "$1/caller.pid"
}

down() {
  local s f
  for f in "$sip"/*/caller.pid "$sip"/calls*/caller.pid; do [ -f "$f" ] && stop_group "$f"; done
  for s in $call_sites; do
    stop_group "$sip/$s/desktops.pid"; stop_group "$sip/$s/phones.pid"; stop_group "$sip/$s/kamailio.pid"
  done
  stop_group "$sip/carrier/kamailio.pid"
  ip netns list 2>/dev/null | grep -q "^$ns-carrier\b" && ip netns delete "$ns-carrier"
  rm -f "$sip/up"
  "$labsh" down
  say "down: no SIP process, no lab"
}

cmd=${1:-}; shift || true
case "$cmd" in
  up) up "$@" ;;
  calls) calls "$@" ;;
  calls-bg) calls --bg "$@" ;;
  kill-site) kill_site "$1" ;;
  register) register ;;
  ready) wait_ready; say "every agent ready" ;;
  offer-timeout) offer_timeout "$1" ;;
  call) call_record "$1" ;;
  collect) collect "$@" ;;
  stop-callers) stop_callers "$1" ;;
  show) show ;;
  down) down ;;
  *) sed -n '2,34p' "$0"; exit 2 ;;
esac
