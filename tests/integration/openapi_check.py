"""openapi_check.py: docs/openapi.yaml loaded and used to check live answers (Python stdlib only).

load(path) -> dict         the YAML subset docs/gen_openapi.py writes (block mappings and sequences,
                           plain and quoted scalars, [a, b] flow sequences, {} and >- folded text)
Checker(doc).check(method, path_template, status, body)
                           raises AssertionError unless `status` is documented for the operation
                           and `body` matches its schema (type, required, properties,
                           additionalProperties, items, enum, minimum, maximum, $ref)
"""
import re


# ---- the YAML subset -------------------------------------------------------------------------

def _scalar(s):
    s = s.strip()
    if s == "{}":
        return {}
    if s == "[]":
        return []
    if s.startswith("[") and s.endswith("]"):
        return [_scalar(x) for x in s[1:-1].split(",") if x.strip()]
    if len(s) >= 2 and s[0] == s[-1] == "'":
        return s[1:-1].replace("''", "'")
    if len(s) >= 2 and s[0] == s[-1] == '"':
        return s[1:-1]
    if s in ("true", "false"):
        return s == "true"
    if re.fullmatch(r"-?\d+", s):
        return int(s)
    return s


def _indent(line):
    return len(line) - len(line.lstrip(" "))


def _block(lines, i, indent):
    if lines[i].lstrip(" ").startswith("- ") and _indent(lines[i]) == indent:
        return _seq(lines, i, indent)
    return _map(lines, i, indent)


def _value_after_key(lines, i, indent, rest):
    """The value of a key whose line is lines[i-1] and text after the colon is `rest`."""
    if rest == ">-":
        parts = []
        while i < len(lines) and _indent(lines[i]) > indent:
            parts.append(lines[i].strip())
            i += 1
        return " ".join(parts), i
    if rest:
        return _scalar(rest), i
    if i < len(lines) and (_indent(lines[i]) > indent or
                           (_indent(lines[i]) == indent and lines[i].lstrip().startswith("- "))):
        return _block(lines, i, _indent(lines[i]))
    return None, i


def _map(lines, i, indent):
    out = {}
    while i < len(lines) and _indent(lines[i]) == indent and not lines[i].lstrip().startswith("- "):
        text = lines[i].strip()
        m = re.match(r"('[^']*'|\"[^\"]*\"|[^:]+):(?: (.*))?$", text)
        if m is None:
            raise ValueError("yaml: line %d: expected 'key: value': %r" % (i + 1, text))
        key = _scalar(m.group(1))
        out[str(key)], i = _value_after_key(lines, i + 1, indent, (m.group(2) or "").strip())
    return out, i


def _seq(lines, i, indent):
    out = []
    while i < len(lines) and _indent(lines[i]) == indent and lines[i].lstrip().startswith("- "):
        content = lines[i][indent + 2:]
        if re.match(r"('[^']*'|[^:'\[]+):( |$)", content):
            lines[i] = " " * (indent + 2) + content  # the item is a mapping at indent + 2
            item, i = _map(lines, i, indent + 2)
        else:
            item, i = _scalar(content), i + 1
        out.append(item)
    return out, i


def load(path):
    lines = [l.rstrip("\n") for l in open(path)]
    lines = [l for l in lines if l.strip() and not l.lstrip().startswith("#")]
    doc, i = _block(lines, 0, 0)
    if i != len(lines):
        raise ValueError("yaml: line %d: not parsed: %r" % (i + 1, lines[i]))
    return doc


# ---- checking ----------------------------------------------------------------------------------

class Checker:
    def __init__(self, doc):
        self.doc = doc
        self.seen = set()  # (method, template, status)

    def resolve(self, node):
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            assert ref.startswith("#/"), ref
            node = self.doc
            for part in ref[2:].split("/"):
                node = node[part]
        return node

    def validate(self, schema, v, where="body"):
        s = self.resolve(schema)
        t = s.get("type")
        kinds = {"object": dict, "array": list, "string": str, "boolean": bool}
        if t in kinds and not isinstance(v, kinds[t]):
            raise AssertionError("%s: expected %s, got %r" % (where, t, v))
        if t == "integer" and (not isinstance(v, int) or isinstance(v, bool)):
            raise AssertionError("%s: expected an integer, got %r" % (where, v))
        if t == "number" and (not isinstance(v, (int, float)) or isinstance(v, bool)):
            raise AssertionError("%s: expected a number, got %r" % (where, v))
        if "enum" in s and v not in s["enum"]:
            raise AssertionError("%s: %r is not one of %s" % (where, v, s["enum"]))
        if "minimum" in s and v < s["minimum"]:
            raise AssertionError("%s: %r below %r" % (where, v, s["minimum"]))
        if "maximum" in s and v > s["maximum"]:
            raise AssertionError("%s: %r above %r" % (where, v, s["maximum"]))
        if t == "object":
            props = s.get("properties") or {}
            for k in s.get("required", []):
                if k not in v:
                    raise AssertionError("%s: required '%s' missing (keys: %s)" % (where, k, sorted(v)))
            extra = s.get("additionalProperties", True)
            for k, x in v.items():
                if k in props:
                    self.validate(props[k], x, "%s.%s" % (where, k))
                elif extra is False:
                    raise AssertionError("%s: '%s' is not documented" % (where, k))
                elif isinstance(extra, dict):
                    self.validate(extra, x, "%s.%s" % (where, k))
        if t == "array":
            for n, x in enumerate(v):
                self.validate(s["items"], x, "%s[%d]" % (where, n))

    def operation(self, method, template):
        paths = self.doc["paths"]
        if template not in paths or method.lower() not in paths[template]:
            raise AssertionError("%s %s is not documented" % (method, template))
        return paths[template][method.lower()]

    def check(self, method, template, status, body):
        op = self.operation(method, template)
        responses = op["responses"]
        if str(status) not in responses:
            raise AssertionError("%s %s answered %d, which is not documented (%s): %r" %
                                 (method, template, status, sorted(responses), body))
        r = self.resolve(responses[str(status)])
        schema = r["content"]["application/json"]["schema"]
        self.validate(schema, body, "%s %s %d" % (method, template, status))
        self.seen.add((method.upper(), template, status))

    def check_plain(self, method, template, status, content_type):
        """A non-JSON answer (text/plain, text/html): its status and content type are documented."""
        op = self.operation(method, template)
        r = self.resolve(op["responses"].get(str(status)) or {})
        types = list((r.get("content") or {}).keys())
        if content_type.split(";")[0].strip() not in types:
            raise AssertionError("%s %s answered %d %s, documented: %s" %
                                 (method, template, status, content_type, types))
        self.seen.add((method.upper(), template, status))

    def check_stream(self, template, status, content_type, events):
        """A Server-Sent Events answer: `events` is a list of (id, event, data) as read. Each id
        must be INDEX.POS, increasing; each data the documented schema, its index/position the
        id's halves and its kind the event name."""
        op = self.operation("GET", template)
        r = self.resolve(op["responses"][str(status)])
        assert content_type.split(";")[0].strip() == "text/event-stream", content_type
        schema = r["content"]["text/event-stream"]["schema"]
        last = None
        for ev_id, kind, data in events:
            m = re.fullmatch(r"(\d+)\.(\d+)", ev_id or "")
            if m is None:
                raise AssertionError("GET %s: event id %r is not INDEX.POS" % (template, ev_id))
            cur = (int(m.group(1)), int(m.group(2)))
            if last is not None and cur <= last:
                raise AssertionError("GET %s: id %s after %s" % (template, ev_id, last))
            last = cur
            self.validate(schema, data, "GET %s event %s" % (template, ev_id))
            if (data["index"], data["position"]) != cur or data["kind"] != kind:
                raise AssertionError("GET %s: id %s event %s but data %r" % (template, ev_id, kind, data))
        self.seen.add(("GET", template, status))

    def check_request(self, method, template, body):
        """A request body we send must match the documented request schema too."""
        op = self.operation(method, template)
        if body is None:
            return
        schema = self.resolve(op["requestBody"]["content"]["application/json"]["schema"])
        self.validate(schema, body, "request %s %s" % (method, template))

    def operations(self):
        for template, ops in self.doc["paths"].items():
            for method in ops:
                yield method.upper(), template
