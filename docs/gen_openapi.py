#!/usr/bin/env python3
"""gen_openapi.py: writes docs/openapi.yaml from proto/callraft.proto and node/http_api.c.

The HTTP API's JSON is the proto's own (node/http_json.h), and its routes are the table in
node/http_api.c, so the document is derived from both and cannot drift from them:
tests/integration/test_http_openapi.sh checks that docs/openapi.yaml is what this script writes,
then validates the live server against it. Run after changing either:

    python3 docs/gen_openapi.py > docs/openapi.yaml

Python standard library only.
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROTO = open(os.path.join(ROOT, "proto", "callraft.proto")).read()
API_C = open(os.path.join(ROOT, "node", "http_api.c")).read()
# Every route any HTTP module registers (http_route_add in node/http_*.c): each must be documented,
# the API table's through ROUTES, the others through OTHER_ROUTES below.
NODE = os.path.join(ROOT, "node")
REGISTERED = sorted(set(p for f in os.listdir(NODE) if f.startswith("http") and f.endswith(".c")
                        for p in re.findall(r'http_route_add\([^";{]*"([^"]*)"', open(os.path.join(NODE, f)).read())))

ENUMS = {m.group(1): re.findall(r"^\s*(\w+) = \d+;", m.group(2), re.M)
         for m in re.finditer(r"enum (\w+) \{(.*?)\n\}", PROTO, re.S)}
MESSAGES = {m.group(1): m.group(2) for m in re.finditer(r"message (\w+) \{(.*?)\}\s*(?://[^\n]*)?\n", PROTO, re.S)}
WRAPPERS = {"Int64Value": "int64", "Int32Value": "int32", "UInt32Value": "uint32"}
SCALARS = ("string", "uint32", "uint64", "int32", "int64", "bool", "double")

# Objects that replies carry (whole: every scalar field present, see http_json.h).
OBJECTS = ["Call", "Agent", "TicketNote", "Ticket", "TicketClassConfig", "QueueConfig", "Site", "Customer",
           "HistoryItem", "Stats", "Member", "NodeStatus", "Campaign"]
# Messages only found inside request bodies: every field optional, as in the bodies.
NESTED_BODIES = ["CampaignTarget"]


def fields(msg):
    """(repeated, type, map_value_type, name) of each field of message `msg`."""
    out = []
    body = re.sub(r"//[^\n]*", "", MESSAGES[msg])
    for m in re.finditer(r"(repeated )?(map<string, (\w+)>|\w+) (\w+) = \d+;", body):
        out.append((bool(m.group(1)), m.group(2), m.group(3), m.group(4)))
    return out


def type_lines(t):
    if t == "string":
        return ["type: string"]
    if t in ("uint32", "uint64"):
        return ["type: integer", "minimum: 0"]
    if t in ("int32", "int64"):
        return ["type: integer"]
    if t == "bool":
        return ["type: boolean"]
    if t == "double":
        return ["type: number"]
    if t in ENUMS:
        return ["type: string", "enum: [%s]" % ", ".join(ENUMS[t])]
    if t in WRAPPERS:
        return type_lines(WRAPPERS[t])
    return ["$ref: '#/components/schemas/%s'" % t]


def object_schema(msg, indent, whole, skip=()):
    """An object schema for message `msg`. whole: every scalar is required (replies)."""
    pad = " " * indent
    out = [pad + "type: object"]
    req, props = [], []
    for rep, t, mapv, name in fields(msg):
        if name in skip:
            continue
        if mapv:
            lines = ["type: object", "additionalProperties:"] + ["  " + x for x in type_lines(mapv)]
        elif rep:
            lines = ["type: array", "items:"] + ["  " + x for x in type_lines(t)]
        else:
            lines = type_lines(t)
        if whole and (rep or mapv or t in SCALARS or t in ENUMS):
            req.append(name)
        props.append((name, lines))
    if req:
        out.append(pad + "required: [%s]" % ", ".join(req))
    if not whole:
        out.append(pad + "additionalProperties: false")
    out.append(pad + "properties:" + ("" if props else " {}"))
    for name, lines in props:
        out.append(pad + "  %s:" % name)
        out += [pad + "    " + x for x in lines]
    return out


ROUTES = re.findall(r'\{(HTTP_\w+), "(/v1/[^"]*)", "(\w+)", (?:"(\w*)"|NULL)\}', API_C)
if not ROUTES:
    sys.exit("gen_openapi: no routes found in node/http_api.c")

OP_MESSAGE = {}
for m in re.finditer(r"^\s+(\w+) (\w+) = \d+;", MESSAGES["Request"], re.M):
    OP_MESSAGE[m.group(2)] = m.group(1)

WRITES = set(re.findall(r"case CALLRAFT__REQUEST__OP_(\w+):",
                        open(os.path.join(ROOT, "proto", "callraft_ops.c")).read().split("callraft_op_is_read")[0]))

# What a successful reply carries, per operation (the rest of the Reply may appear too).
SUCCESS = {
    "status": ("StatusReply", "the answering node's own view (never forwarded)"),
    "members_list": ("MembersReply", None), "site_list": ("SitesReply", None),
    "call_show": ("CallReply", None), "agent_show": ("AgentReply", None),
    "ticket_show": ("TicketReply", None), "ticket_open": ("TicketReply", None),
    "call_enqueue": ("CallReply", None), "call_next": ("CallReply", None),
    "agent_list": ("AgentsReply", None), "ticket_list": ("TicketsReply", None),
    "queue_show": ("QueueReply", None), "stats_get": ("StatsReply", None),
    "customer_history": ("HistoryReply", None),
    "customer_show": ("CustomerReply", None),
    "campaign_create": ("CampaignReply", None), "campaign_add": ("CampaignReply", None),
    "campaign_pause": ("CampaignReply", None), "campaign_show": ("CampaignReply", None),
    "campaign_delete": ("CampaignReply", None),
    "campaign_list": ("CampaignsReply", None),
    "ticket_due_list": ("TicketsReply", None),
    "rules_show": ("MembersReply", "each member's declared rules range (rules_oldest..rules_newest),"
                   " rules_active, and rules_upgradable (0 with a message naming the member in the way)"),
}
SUMMARY = {
    "status": "This node's status: role, leader, term, indexes, members (node-local)",
    "members_list": "Members: site, addresses (client and HTTP), role",
    "member_add": "Add a member (as a spare; then assign it a role)",
    "leader_transfer": "Transfer leadership (to `id`, or 0: the most up-to-date voter)",
    "member_remove": "Remove a member", "member_assign": "Assign a member's role (VOTER, STANDBY, SPARE)",
    "snapshot_take": "Take a Raft snapshot on this node at the next entry (node-local)",
    "rules_show": "FSM rules versions: the active one, each member's range, what an upgrade would raise it to (admin)",
    "rules_upgrade": "Raise the FSM rules version (to `version`, or none: the newest every member holds; admin)",
    "call_enqueue": "Enqueue a call (the PBX's call id is a natural key: once per call id)",
    "call_next": "Give the agent the best waiting call (an offer with its token)",
    "call_show": "A call", "call_answer": "Answer an offered call with the offer's token",
    "call_reject": "Decline an offered call (it goes back to the queue)",
    "call_end": "End an answered call", "call_abandon": "The caller hung up while waiting or offered",
    "callback_request": "Turn a waiting call into a callback (keeps its place)",
    "call_dial_attempt": "Record a dial attempt of a callback, before dialling",
    "agent_list": "Agents (of one site with ?site=)", "agent_show": "An agent",
    "agent_login": "Log an agent in with its skills (queues)",
    "agent_set_state": "Set an agent's state (AVAILABLE, BREAK, WRAP_UP; push: true = ready for pushed offers)",
    "agent_logout": "Log an agent out", "agent_heartbeat": "Presence heartbeat of an agent's desktop",
    "callback_schedule": "Schedule a callback at a time", "callback_voicemail": "A voicemail callback, released when the site opens",
    "ticket_list": "A customer's tickets (?customer_id=, ?limit=)", "ticket_open": "Open a ticket (its tracking code comes back)",
    "ticket_class_show": "Ticket classes and their targets (configured or default): all, or one with ?ticket_class=",
    "ticket_class_configure": "Set a ticket class's target and due-soon time (a new name adds a class; absent fields keep their value)",
    "ticket_due_list": "Tickets OPEN or IN_PROGRESS past their target (overdue), or with ?due_soon=true due soon; ?ticket_class=, ?site=, ?limit=; in due order, paged by next_cursor",
    "ticket_show": "A ticket with its notes", "ticket_update": "Change a ticket's status and/or add a note",
    "customer_history": "A customer's contact history",
    "customer_show": "A customer's record (CRM fields, last agent)",
    "customer_set": "Set a customer's whole record (tier, preferred agent, numbers, national id or CRM id, SMS consent)",
    "campaign_create": "Create an outbound campaign (its queue, owning site, pacing in percent of free agents, an optional window)",
    "campaign_add": "Add targets (number, customer) to a campaign, at most 500 a request; a number already in it is skipped",
    "campaign_pause": "Pause (paused true) or resume a campaign's releases",
    "campaign_show": "A campaign, its counters and a page of its released calls in list order (?limit=, paged by next_cursor)",
    "campaign_list": "Every campaign with its counters",
    "campaign_delete": "Delete a campaign that is over (every released call final; all released, paused or past its end) - its calls remain",
    "queue_show": "A queue: waiting calls and its routing config",
    "queue_configure": "Configure a queue's routing (absent fields keep their value)",
    "site_list": "Sites and their status", "site_configure": "Configure a site (opening hours, presence and loss timeouts)",
    "site_down": "Declare a site lost (its waiting callers are handed over)", "site_up": "Declare a site restored",
    "stats_get": "Statistics per queue, site and ticket class (?queue=, ?site=, ?ticket_class=); ?interval=today (each site's local day), 15m, 60m or days (90 days); none: since counting began",
}
BODIES = set()  # request messages referenced by the paths
METHOD = {"HTTP_GET": "get", "HTTP_POST": "post", "HTTP_DELETE": "delete", "HTTP_PUT": "put", "HTTP_PATCH": "patch"}


def operation(method, path, op):
    msg = OP_MESSAGE[op]
    params = re.findall(r"\{(\w+)\}", path)
    is_write = op.upper() in WRITES
    out = ["    %s:" % METHOD[method], "      operationId: %s" % op,
           "      summary: %s" % SUMMARY.get(op, op).replace(":", " -")]
    plist = []
    for p in params:
        t = [f for f in fields(msg) if f[3] == p][0][1]
        plist.append(["- name: %s" % p, "  in: path", "  required: true", "  schema:"] +
                     ["    " + x for x in type_lines(t)])
    if method == "HTTP_GET":
        for rep, t, mapv, name in fields(msg):
            if name in params or rep or mapv or (t == "bytes" and name != "cursor"):
                continue  # JSON takes no bytes but a list's cursor, as hex (http_json.c)
            if t == "bytes":
                plist.append(["- name: cursor", "  in: query", "  required: false",
                              "  description: a previous page's next_cursor (hex) - the page from there on",
                              "  schema:", "    type: string", "    pattern: '^([0-9a-fA-F]{2})*$'"])
                continue
            plist.append(["- name: %s" % name, "  in: query", "  required: false", "  schema:"] +
                         ["    " + x for x in type_lines(t)])
        if op != "status":
            plist.append(["- $ref: '#/components/parameters/stale'"])
    if is_write:
        plist.append(["- $ref: '#/components/parameters/idempotencyKey'"])
    plist.append(["- $ref: '#/components/parameters/timeout'"])
    out.append("      parameters:")
    for p in plist:
        out += ["        " + x for x in p]
    if method != "HTTP_GET":
        BODIES.add(msg)
        out += ["      requestBody:", "        required: false",
                "        description: the operation's fields as a JSON object, or as a form"
                " (key=value&..., a repeated field comma-separated) - path parameters may be repeated"
                " in it if equal",
                "        content:"]
        for ct in ("application/json", "application/x-www-form-urlencoded"):
            out += ["          %s:" % ct, "            schema:",
                    "              $ref: '#/components/schemas/%s'" % msg]
    out.append("      responses:")
    schema, desc = SUCCESS.get(op, ("Reply", None))
    out += ["        '200':", "          description: %s" % (desc or "done"), "          content:",
            "            application/json:", "              schema:",
            "                $ref: '#/components/schemas/%s'" % schema]
    errors = ["400", "403", "503", "504"]  # 403: the client certificate lacks the role
    if op not in ("status", "members_list", "site_list", "snapshot_take", "rules_show", "rules_upgrade"):
        errors.append("404")
    if is_write or op in ("member_add", "member_remove", "member_assign", "leader_transfer"):
        errors += ["409", "422"]
    elif op == "rules_upgrade":
        errors.append("409")  # BAD_STATE: a member cannot apply the version
    for e in sorted(errors):
        out += ["        '%s':" % e, "          $ref: '#/components/responses/Error'"]
    return out


# The routes outside the API table: module path prefix -> document paths ("*" is a path segment).
SSE_ERRORS = {"400": "bad arguments (a cursor, a kind, an agent id) - nothing is streamed",
              "410": "the cursor is older than the retained events (code COMPACTED) - start again"
                     " from a newer one, or without a cursor",
              "503": "the node is out of memory or stopping - retry (Retry-After)"}
SSE_DESC = ("Server-Sent Events (text/event-stream), served by any node from its own applied state"
            " (never forwarded). The stream opens with `retry: 1000` and sends a comment line"
            " (`: ping`) while idle. Each event is `id: INDEX.POS` (the cursor - log index of the"
            " entry, position of the event in it), `event: KIND` (an EventKind) and one `data:` line"
            " - an Event as JSON (the SseEvent schema - index, position, at_ms and kind always, the other fields when not empty). A reconnecting"
            " EventSource sends the last id as Last-Event-ID, to any node - the stream resumes right"
            " after that event, with no gap and no repeat. Last-Event-ID wins over ?from=.")


def sse_operation(op, summary, params):
    out = ["    get:", "      operationId: %s" % op, "      summary: %s" % summary,
           "      description: '%s'" % SSE_DESC.replace("'", "''"), "      parameters:"]
    for p in params:
        out += ["        " + x for x in p]
    out += ["      responses:", "        '200':",
            "          description: the stream - one event per message, id INDEX.POS, event KIND,"
            " data the Event's JSON (schema SseEvent)",
            "          content:", "            text/event-stream:", "              schema:",
            "                $ref: '#/components/schemas/SseEvent'"]
    for code, desc in sorted(SSE_ERRORS.items()):
        out += ["        '%s':" % code, "          description: %s" % desc, "          content:",
                "            application/json:", "              schema:",
                "                $ref: '#/components/schemas/Error'"]
    return out


def query(name, desc, lines):
    return ["- name: %s" % name, "  in: query", "  required: false", "  description: %s" % desc,
            "  schema:"] + ["    " + x for x in lines]


def header(name, desc):
    return ["- name: %s" % name, "  in: header", "  required: false", "  description: %s" % desc,
            "  schema:", "    type: string", "    pattern: '^[0-9]+[.][0-9]+$'"]


CURSOR = ["type: string", "pattern: '^[0-9]+([.][0-9]+)?$'"]
LAST_ID = header("Last-Event-ID", "the id of the last event received (EventSource sends it when it"
                 " reconnects) - the stream resumes right after it")


def wait_operation():
    out = ["    get:", "      operationId: call_wait",
           "      summary: Wait until a call is no longer WAITING (a bounded long poll, for SIP servers"
           " holding a caller - docs/telephony.md)",
           "      description: 'Answered from this node''s own applied state (never forwarded), as GET"
           " /v1/calls/{call_id} would, as soon as the node has applied min_index and the call is not"
           " WAITING (offered - with its token -, abandoned, a callback...), or after wait_ms with the"
           " call as it is (still WAITING - ask again).'",
           "      parameters:",
           "        - name: call_id", "          in: path", "          required: true",
           "          schema:", "            type: string"]
    out += ["        " + x for x in query("wait_ms", "how long to hold the request (default 10000)",
                                         ["type: integer", "minimum: 0", "maximum: 30000"])]
    out += ["        " + x for x in query("min_index", "answer only once this node applied this log index"
                                         " (the applied_index of the caller's own last write)",
                                         ["type: integer", "minimum: 0"])]
    out += ["      responses:", "        '200':", "          description: the call", "          content:",
            "            application/json:", "              schema:",
            "                $ref: '#/components/schemas/CallReply'"]
    for e in ("400", "403", "404", "503", "504"):
        out += ["        '%s':" % e, "          $ref: '#/components/responses/Error'"]
    return out


def plain_operation(op, summary, ctype, head):
    out = []
    for m in (["get", "head"] if head else ["get"]):
        out += ["    %s:" % m, "      operationId: %s%s" % (op, "_head" if m == "head" else ""),
                "      summary: %s" % summary, "      responses:", "        '200':",
                "          description: %s" % ("the headers of GET only" if m == "head" else ctype),
                "          content:", "            %s:" % ctype, "              schema:",
                "                type: string"]
    return out


OTHER_ROUTES = {
    "/v1/events": ("/v1/events", sse_operation(
        "events", "The event stream - every change, in log order, optionally filtered (SSE)",
        [query("from", "the cursor to start at - INDEX or INDEX.POS (default - only new events)", CURSOR),
         query("queue", "only events of this queue", ["type: string"]),
         query("site", "only events of this site", ["type: string"]),
         query("agent", "only events of this agent", ["type: string"]),
         query("kind", "only these kinds - a comma-separated list of EventKind names", ["type: string"]),
         LAST_ID])),
    "/v1/agents/*/offers": ("/v1/agents/{agent_id}/offers", sse_operation(
        "agent_offers", "The agent's offers pushed as they are made - CALL_OFFERED events with the"
        " token (offer_term, offer_index) to answer with (SSE)",
        [["- name: agent_id", "  in: path", "  required: true", "  schema:", "    type: string"],
         query("from", "the cursor to start at (default - the offer the agent holds unanswered, if"
               " any, else only new offers)", CURSOR),
         LAST_ID])),
    "/v1/calls/*/wait": ("/v1/calls/{call_id}/wait", wait_operation()),
    "/metrics": ("/metrics", plain_operation(
        "metrics", "This node's metrics in the Prometheus text format (node-local)",
        "text/plain", True)),
    "/": ("/", plain_operation("wallboard_root", "The live wallboard page (also at /wallboard)",
                               "text/html", False)),
}
OTHER_ROUTES_EXTRA = [("/wallboard", plain_operation("wallboard", "The live wallboard page",
                                                      "text/html", False))]
for _p in REGISTERED:
    if _p != "/v1/" and _p not in OTHER_ROUTES:
        sys.exit("gen_openapi: route %s (http_route_add in node/http_*.c) is not documented" % _p)


def reply_schema(name, required, props):
    out = ["    %s:" % name, "      type: object", "      required: [%s]" % ", ".join(["code"] + required),
           "      properties:", "        code:", "          type: string", "          enum: [OK]",
           "        applied_index:", "          type: integer", "          minimum: 0"]
    for p, lines in props:
        out.append("        %s:" % p)
        out += ["          " + x for x in lines]
    return out


def ref(n):
    return ["$ref: '#/components/schemas/%s'" % n]


def arr(n):
    return ["type: array", "items:", "  $ref: '#/components/schemas/%s'" % n]


def main():
    out = """# openapi.yaml: the HTTP/JSON API of callraftd (node/http_api.c), served by every node on its
# http_address. WRITTEN BY docs/gen_openapi.py from proto/callraft.proto and node/http_api.c: do not
# edit by hand; tests/integration/test_http_openapi.sh checks it is current and validates a live
# cluster against it. Examples for every operation: docs/integrate.md.
openapi: 3.0.3
info:
  title: callraft HTTP/JSON API
  version: '1'
  description: >-
    Every node answers every operation - a follower forwards to the leader. JSON field names are
    the proto's (proto/callraft.proto), enums are their names, 64-bit integers are JSON integers.
    Reads are linearizable unless ?stale=true (then the answering node's own state). Writes need
    an Idempotency-Key header - a retry with the same key, to any node and after a failover,
    returns the first reply and changes nothing while the key is retained (24 h of cluster time,
    or the 200,000 most recent keys). Every error has a JSON body with the CLI's code - 503 comes
    with Retry-After. Every request is answered within its deadline (12 s, ?timeout_ms= 100..60000)
    or gets 504 TIMEOUT - the outcome of a write is then unknown, retry it with the same key.
servers:
  - url: http://127.0.0.1:8080
paths:
""".splitlines()
    by_path = {}
    for method, path, op, _ in ROUTES:
        by_path.setdefault(path, []).append((method, op))
    for path in by_path:
        oapath = path
        out.append("  %s:" % oapath)
        for method, op in by_path[path]:
            out += operation(method, path, op)
    for prefix in REGISTERED:
        if prefix in OTHER_ROUTES:
            path, lines = OTHER_ROUTES[prefix]
            out += ["  %s:" % path] + lines
            if prefix == "/":
                for p, l in OTHER_ROUTES_EXTRA:
                    out += ["  %s:" % p] + l
    out += """components:
  parameters:
    stale:
      name: stale
      in: query
      required: false
      description: true - answer from this node's state without asking the leader (wallboards)
      schema:
        type: boolean
    timeout:
      name: timeout_ms
      in: query
      required: false
      description: the request's deadline in ms (default 12000) - 504 TIMEOUT after it
      schema:
        type: integer
        minimum: 100
        maximum: 60000
    idempotencyKey:
      name: Idempotency-Key
      in: header
      required: true
      description: one value per logical operation, the same on every retry (1-128 printable characters, no spaces)
      schema:
        type: string
  responses:
    Error:
      description: an error - the body carries the CLI's code and a message
      content:
        application/json:
          schema:
            $ref: '#/components/schemas/Error'
  schemas:
    Error:
      type: object
      required: [code, message]
      properties:
        code:
          type: string
          enum: [%s]
        message:
          type: string
        applied_index:
          type: integer
          minimum: 0
        leader_hint:
          type: integer
          minimum: 0
        leader_address:
          type: string
""".replace("%s", ", ".join(c for c in ENUMS["Code"] if c != "OK")).splitlines()
    generic = [("call", ref("Call")), ("agent", ref("Agent")), ("ticket", ref("Ticket")),
               ("leader_hint", ["type: integer", "minimum: 0"]), ("leader_address", ["type: string"])]
    out += reply_schema("Reply", [], generic)
    out += reply_schema("CallReply", ["call"], [("call", ref("Call")), ("agent", ref("Agent")),
                                                ("queue_position", ["type: integer", "minimum: 0"]),
                                                ("expected_wait_ms", ["type: integer", "minimum: -1"])])
    out += reply_schema("AgentReply", ["agent"], [("agent", ref("Agent"))])
    out += reply_schema("CustomerReply", ["customer"], [("customer", ref("Customer"))])
    out += reply_schema("TicketReply", ["ticket"], [("ticket", ref("Ticket"))])
    out += reply_schema("AgentsReply", ["agents"], [("agents", arr("Agent"))])
    out += reply_schema("TicketsReply", ["tickets"], [("tickets", arr("Ticket")),
                                                      ("total", ["type: integer", "minimum: 0"]),
                                                      ("next_cursor", ["type: string", "description: the next page (pass it as ?cursor=) - absent on the last page"])])
    out += reply_schema("QueueReply", ["calls", "queue_config"],
                        [("calls", arr("Call")), ("total", ["type: integer", "minimum: 0"]),
                         ("queue_config", ref("QueueConfig"))])
    out += reply_schema("StatsReply", ["stats"], [("stats", arr("Stats")),
                                                  ("total", ["type: integer", "minimum: 0"])])
    out += reply_schema("HistoryReply", ["history"], [("history", arr("HistoryItem")),
                                                      ("customer", ref("Customer")),
                                                      ("total", ["type: integer", "minimum: 0"]),
                                                      ("next_cursor", ["type: string", "description: the next page (pass it as ?cursor=) - absent on the last page"])])
    out += reply_schema("SitesReply", ["sites"], [("sites", arr("Site"))])
    out += reply_schema("CampaignReply", ["campaign"], [("campaign", ref("Campaign")),
                                                        ("calls", arr("Call")),
                                                        ("total", ["type: integer", "minimum: 0"]),
                                                        ("next_cursor", ["type: string", "description: the next page (pass it as ?cursor=) - absent on the last page"])])
    out += reply_schema("CampaignsReply", ["campaigns"], [("campaigns", arr("Campaign")),
                                                          ("total", ["type: integer", "minimum: 0"])])
    out += reply_schema("MembersReply", ["members"], [("members", arr("Member"))])
    out += reply_schema("StatusReply", ["status"], [("status", ref("NodeStatus"))])
    for name in OBJECTS:
        out.append("    %s:" % name)
        out += object_schema(name, 6, True)
    # An SSE message's data: the Event with its empty fields omitted (http_events.c), but always
    # its cursor's halves, time and kind; nothing undocumented.
    out.append("    SseEvent:")
    ev = object_schema("Event", 6, False)
    out += ev[:1] + ["      required: [index, position, at_ms, kind]"] + ev[1:]
    for name in sorted(BODIES) + NESTED_BODIES:
        out.append("    %s:" % name)
        out += object_schema(name, 6, False)
    print("\n".join(out))


main()
