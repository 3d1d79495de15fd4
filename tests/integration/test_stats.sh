#!/usr/bin/env bash
# Stats over intervals (state/stats_interval.c) on a live 1+1+1 cluster: calls of two sites and
# tickets are driven through the CLI, then every interval read (today, 15m, 60m, days, ticket
# classes, and the lifetime counters) gives the same numbers through `callraft --json stats` and
# GET /v1/stats, and the numbers are the ones the calls made (offered, answered, abandoned, short
# abandons, SL, ASA, tickets closed within target). Bad intervals are refused by both, with a
# clear error. Plain HTTP: this checks the read, not TLS (test_http_api runs HTTP over TLS).
export CALLRAFT_INSECURE=1
source "$(dirname "$0")/lib.sh"

step "start a 1+1+1 cluster"
"$CLUSTER_SH" up 1+1+1 >/dev/null
leader=$(wait_leader)
HTTP="127.0.0.1:$((CALLRAFT_PORT_BASE + 200 + leader))"
for _ in $(seq 50); do curl -sf --max-time 2 "http://$HTTP/v1/status" >/dev/null && break; sleep 0.2; done
cli() { "$CLI" --cluster "$(cluster)" "$@"; }

step "calls at Tehran (UTC+03:30) and Shiraz, a short abandon, an answer, an urgent ticket"
cli site configure tehran --utc-offset +03:30 >/dev/null
cli agent login a1 --site tehran --skills sales >/dev/null
for i in 1 2 3; do cli call enqueue --call-id t$i --queue sales --caller +98210000$i --site tehran >/dev/null; done
cli call enqueue --call-id s1 --queue sales --caller +98710001 --site shiraz >/dev/null
cli call abandon t2 >/dev/null # within 5 s: a short abandon
token=$(cli --json call next --agent a1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["call"]["offer_token"])')
cli call answer t1 --agent a1 --token "$token" >/dev/null
cli call end t1 --agent a1 >/dev/null
code=$(cli --json ticket open --customer cust-1 --category request --call t1 --class urgent |
  python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("code") or d["ticket"]["code"])')
cli ticket update "$code" --status closed >/dev/null
cli ticket open --customer cust-2 --category request >/dev/null # follow-up, still open

step "the CLI and the HTTP API give the same numbers for every interval"
export HTTP CLI CLUSTER="$(cluster)"
python3 - <<'PY'
import json, os, subprocess, urllib.request, urllib.error

http, cli, cluster = os.environ["HTTP"], os.environ["CLI"], os.environ["CLUSTER"]
COUNTS = ["offered", "entered", "answered", "answered_in_sl", "abandoned", "abandoned_short",
          "callbacks", "service_level", "asa_ms", "abandon_rate", "tickets_opened",
          "tickets_closed", "tickets_closed_in_target", "interval"]

def via_cli(args):
    out = subprocess.run([cli, "--cluster", cluster, "--json", "stats"] + args, check=True,
                         capture_output=True, text=True, timeout=20).stdout
    return json.loads(out)["stats"]

def via_http(query):
    with urllib.request.urlopen(f"http://{http}/v1/stats?{query}", timeout=10) as r:
        return json.load(r)["stats"]

def picture(items):
    """scope/name -> the count fields (and the days, by date), as both sides report them."""
    out = {}
    for s in items:
        key = f'{s["scope"]}/{s["name"]}'
        out[key] = {k: s.get(k, 0 if k != "interval" else "") for k in COUNTS}
        out[key]["days"] = {d["name"]: {k: d.get(k, 0) for k in COUNTS if k != "interval"}
                            for d in s.get("days", [])}
    return out

reads = [([], ""), (["--interval", "today"], "interval=today"),
         (["--interval", "15m"], "interval=15m"), (["--interval", "60m"], "interval=60m"),
         (["--interval", "days", "--queue", "sales"], "interval=days&queue=sales"),
         (["--interval", "days", "--site", "tehran"], "interval=days&site=tehran"),
         (["--interval", "today", "--ticket-class", "urgent"], "interval=today&ticket_class=urgent"),
         (["--interval", "days", "--ticket-class", "follow-up"], "interval=days&ticket_class=follow-up")]
got = {}
for args, query in reads:
    a, b = picture(via_cli(args)), picture(via_http(query))
    assert a == b, f"stats {' '.join(args)}: CLI {a} != HTTP {b}"
    assert a, f"stats {' '.join(args)}: nothing"
    got[query] = a
    print(f"  {query or '(lifetime)'}: {len(a)} scope(s) alike")

for q in ("interval=today", "interval=15m", "interval=60m", ""):
    s = got[q]["queue/sales"]
    assert (s["offered"], s["answered"], s["abandoned"], s["abandoned_short"]) == (4, 1, 1, 1), (q, s)
    assert s["service_level"] == 1.0 and s["answered_in_sl"] == 1, (q, s)
    assert got[q]["site/tehran"]["offered"] == 3 and got[q]["site/shiraz"]["offered"] == 1, (q, got[q])
t = got["interval=today"]
assert t["ticket_class/urgent"]["tickets_closed_in_target"] == 1, t
assert t["ticket_class/urgent"]["service_level"] == 1.0, t
assert t["ticket_class/follow-up"]["tickets_opened"] == 1, t
assert t["ticket_class/follow-up"]["tickets_closed"] == 0, t
d = got["interval=days&queue=sales"]["queue/sales"]
assert sum(x["offered"] for x in d["days"].values()) == 4, d
assert 1 <= len(d["days"]) <= 2, d  # Tehran's and Shiraz's local dates may differ near midnight

for bad, want in (("interval=7d", "interval"), ("interval=days", "interval days"),
                  ("ticket_class=urgent", "needs an interval"), ("interval=today&ticket_class=vip", "ticket_class")):
    try:
        via_http(bad)
        raise AssertionError(f"{bad}: accepted")
    except urllib.error.HTTPError as e:
        body = e.read().decode()
        assert e.code == 400 and want in body, (bad, e.code, body)
for args in (["--interval", "7d"], ["--interval", "days"], ["--ticket-class", "urgent"]):
    r = subprocess.run([cli, "--cluster", cluster, "stats"] + args, capture_output=True, text=True, timeout=20)
    assert r.returncode != 0 and ("interval" in r.stderr or "ticket-class" in r.stderr), (args, r.returncode, r.stderr)
print("  bad intervals refused by both")
PY

step "the table output names the interval"
cli stats --interval today | tee "$CALLRAFT_LAB/today.txt"
grep -q "^interval: today" "$CALLRAFT_LAB/today.txt" || fail "stats --interval today: no interval line"
cli stats --interval days --site tehran | tee "$CALLRAFT_LAB/days.txt"
grep -qE "^day +[0-9]{4}-[0-9]{2}-[0-9]{2}" "$CALLRAFT_LAB/days.txt" || fail "stats --interval days: no day rows"
echo PASS
