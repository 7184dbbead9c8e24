#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A hawkBit DDI server for the tests: the device-facing half of Eclipse hawkBit, nothing else.

Written from hawkBit's published Direct Device Integration API, release 1.1.0 (tag 1.1.0, commit
dd342705d46e07e8eb986a79808c7c67eeca9321; the DDI files are unchanged up to master 67ca1c43):
hawkbit-ddi/hawkbit-ddi-api/…/ddi/json/model/Ddi*.java (the JSON shapes),
…/ddi/rest/api/DdiRootControllerRestApi.java (the paths), hawkbit-ddi-resource/…/DdiRootController.java
and DataConversionHelper.java (status codes, links), hawkbit-rest-core/…/FileStreamingUtil.java
(downloads), docs/direct-device-integration-api.md. docs/hawkbit.md describes them field for field.

Resources, all under /{tenant}/controller/v1/{controllerId}:
  GET  ""                                   base: config.polling.sleep and _links
  GET  deploymentBase/{id}[?c=…&actionHistory=n]   POST deploymentBase/{id}/feedback
  GET  cancelAction/{id}                    POST cancelAction/{id}/feedback
  PUT  configData
  GET  confirmationBase, confirmationBase/{id}     POST confirmationBase/{id}/feedback,
       POST confirmationBase/activateAutoConfirm, …/deactivateAutoConfirm
  GET  installedBase/{id}                   PUT installedBase
  GET  softwaremodules/{sm}/artifacts, softwaremodules/{sm}/artifacts/{file}[.MD5SUM] (Range: RFC 7233)

Authentication: "Authorization: TargetToken <t>" (--target-token) or "GatewayToken <t>"
(--gateway-token); with neither option the server is open (hawkBit's anonymous mode). A missing or
wrong token, or "token_valid": false in the state file, answers 401 with an empty body, as hawkBit does.

The test scripts the server through --state FILE (JSON, re-read on every request, all keys optional):
  {"polling_sleep": "00:00:01",          config.polling.sleep (HH:MM:SS)
   "token_valid": true,                  false: every request 401 (an expired/revoked token)
   "target_token": "…",                  replaces --target-token (a rotated token)
   "request_attributes": true,           offer the configData link until a PUT configData arrives
   "auto_confirm": false,                the target's auto-confirmation is active
   "http_error": {"path": REGEX, "status": 503, "count": N, "method": "POST", "match": REGEX},
                                         fail matching requests (N times; absent: always; "method"
                                         and "match", the body as text, both optional)
   "link_base": "http://127.0.0.1:N",    the scheme and authority of every link in the base answer
                                         (another host or scheme than the client asked: a hostile server)
   "raw": {"path": REGEX, "method": "GET", "status": 200, "body": TEXT, "repeat": N, "rate": BYTES_PER_S,
           "endless": false, "count": N, "headers": {"Location": URL}},
                                         a hostile server: a request whose path and query match
                                         (after the token check) gets BODY repeated N times (default
                                         1) with "status" and "headers" (a redirect, say) instead of
                                         the model's answer; "{n}" in BODY is the number of raw
                                         answers so far (1, 2, …); "rate" trickles the body;
                                         "endless" sends it again and again (no Content-Length)
                                         until the client hangs up; "count": N times (absent: always)
   "delay": {"path": REGEX, "method": "POST", "match": REGEX, "seconds": S, "count": N},
                                         handle a matching request (its body as text matches "match"),
                                         then wait S seconds before answering (N times; absent: always):
                                         the server has acted on it, the client has not heard yet
   "action": {                           the current assignment (absent / null: none)
       "id": 5, "name": "osupdate", "version": "2.0", "part": "os", "software_module": 105 (default 100+id),
       "download": "forced", "update": "forced",    skip|attempt|forced (update absent: skip when
                                                    the window is unavailable, else = download)
       "maintenance_window": "available",           available|unavailable (absent: no window)
       "download_only": false,                      a download-only action: "downloaded" closes it
       "confirm": false,                            the action waits for the device's confirmation
       "cancel": false,                             the operator cancelled it (canceling)
       "metadata": {"k": "v"},
       "artifacts": [{"file": PATH, "filename": NAME, "sha256": HEX, "sha1": HEX, "md5": HEX,
                      "size": N, "url": URL, "links": ["download-http", "md5sum-http"],
                      "rate": BYTES_PER_S, "cut_after": N}]}}
  "file" is served by this server; "sha256"/"sha1"/"md5"/"size" replace the computed values in the
  deployment (to announce a wrong one on purpose; the bytes served stay the file's); "url" replaces
  the download link; "links" picks the rels (hawkBit's default resolver gives download-http and
  md5sum-http, with the scheme of the request); "rate" throttles downloads; "cut_after" closes every
  download that starts at 0 after N bytes (the client has to resume with Range).
  An "action" may instead give "file" etc. directly for a single artifact.

What the server learnt (action status, feedback, attributes) is kept in --db FILE (default
STATE.db), so that a restarted server remembers closed actions; delete it to start afresh.
Action status, as hawkBit's: running, wait_for_confirmation, canceling, finished, error, canceled.

--strict: request bodies must have exactly the fields of the DDI model classes (DdiActionFeedback,
DdiStatus, DdiResult, DdiProgress, DdiConfigData, DdiConfirmationFeedback, DdiActivateAutoConfirmation)
with their types; anything else answers 400 with errorCode "ddi-server.strict" and the field named.
hawkBit itself ignores unknown fields; the tests use --strict to hold the client to the published shapes.

--log FILE gets one JSON line per request:
  {"time", "method", "path", "query", "headers": {the Authorization, Range, If-Match, If-Range,
   Content-Type, Accept, User-Agent sent}, "body": parsed JSON (or text), "status", "sent": bytes}

Python 3 standard library only; HTTP, or HTTPS with --cert/--key (--client-ca: require a client
certificate, mTLS).
"""

import argparse
import hashlib
import http.server
import json
import os
import re
import socket
import ssl
import sys
import threading
import time
import urllib.parse

HANDLING = ("skip", "attempt", "forced")
EXECUTION = ("closed", "proceeding", "canceled", "scheduled", "rejected", "resumed", "downloaded", "download")
FINISHED = ("success", "failure", "none")
ACTIVE = ("running", "wait_for_confirmation", "canceling")
MAX_STATUS_ENTRIES = 1000       # hawkbit.server.security.dos.maxStatusEntriesPerAction
MAX_MESSAGES = 50               # …maxMessagesPerActionStatus
POLL_RE = re.compile(r"^\d\d:[0-5]\d:[0-5]\d$")


class DdiError(Exception):
    """An answer other than 200: code, and an ExceptionInfo body or none."""

    def __init__(self, code, error=None, message=None):
        super().__init__(message or error or str(code))
        self.code, self.error, self.message = code, error, message


def not_found(what="The given entity does not exist in the repository"):
    return DdiError(404, "hawkbit.server.error.repo.entityNotFound", what)


def bad_body():
    return DdiError(400, "hawkbit.server.error.rest.body.notReadable", "The given request body is not well formed")


def quota():
    return DdiError(429, "hawkbit.server.error.quota.tooManyEntries", "Too many entries have been inserted.")


class Hashes:
    def __init__(self):
        self.cache = {}

    def of(self, path):
        st = os.stat(path)
        key = (path, st.st_size, st.st_mtime_ns, st.st_ino)
        if key not in self.cache:
            h = [hashlib.sha1(), hashlib.md5(), hashlib.sha256()]
            with open(path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    for x in h:
                        x.update(chunk)
            self.cache[key] = {"sha1": h[0].hexdigest(), "md5": h[1].hexdigest(),
                               "sha256": h[2].hexdigest(), "size": st.st_size}
        return self.cache[key]


class Server:
    def __init__(self, a):
        self.a = a
        self.lock = threading.RLock()
        self.log = open(a.log, "a") if a.log else None
        self.db_path = a.db or ((a.state + ".db") if a.state else None)
        self.hashes = Hashes()
        self.errors_done = 0
        self.raws_done = 0
        self.delays_done = 0
        self.db = {"actions": {}, "attributes": {}, "attributes_received": False, "auto_confirm": None,
                   "installed_version": None, "last_finished": None}
        if self.db_path and os.path.exists(self.db_path):
            with open(self.db_path) as f:
                self.db.update(json.load(f))

    def save(self):
        if not self.db_path:
            return
        tmp = self.db_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.db, f, indent=1)
        os.rename(tmp, self.db_path)

    def state(self):
        if not self.a.state:
            return {}
        try:
            with open(self.a.state) as f:
                s = json.load(f)
        except FileNotFoundError:
            return {}
        if not isinstance(s, dict):
            raise ValueError("the state file is not a JSON object")
        return s

    # ---- actions ----------------------------------------------------------------------------

    def auto_confirm(self, st):
        if self.db["auto_confirm"] is not None:
            return self.db["auto_confirm"]["active"]
        return bool(st.get("auto_confirm"))

    def action(self, st):
        """(state's action dict, db entry) of the current action, or (None, None)."""
        act = st.get("action")
        if not act:
            return None, None
        key = str(act["id"])
        e = self.db["actions"].get(key)
        if e is None:
            e = {"status": "running", "feedback": [], "messages": [], "cancel_rejected": False, "confirmed": False}
            self.db["actions"][key] = e
            # A new assignment replaces the open one (in hawkBit the operator's new assignment
            # cancels it): the old action is over, its feedback now answers 410.
            for k, other in self.db["actions"].items():
                if k != key and other["status"] in ACTIVE:
                    other["status"] = "canceled"
                    other["messages"].append("Update Server: superseded by action " + key)
        e["spec"] = act
        if e["status"] in ("running", "wait_for_confirmation"):
            waiting = act.get("confirm") and not e["confirmed"] and not self.auto_confirm(st)
            e["status"] = "wait_for_confirmation" if waiting else "running"
        if e["status"] in ACTIVE and act.get("cancel") and not e["cancel_rejected"]:
            e["status"] = "canceling"
        return act, e

    def action_by_id(self, st, ident):
        act, e = self.action(st)
        if act is not None and str(act["id"]) == str(ident):
            return act, e
        e = self.db["actions"].get(str(ident))
        if e is not None and e.get("spec"):
            return e["spec"], e         # an earlier action: hawkBit still knows it
        raise not_found(f"Not a valid action ({ident}) for target: {self.a.controller}")

    def artifacts(self, act):
        arts = act.get("artifacts")
        if arts is None and act.get("file"):
            arts = [{k: v for k, v in act.items() if k in ("file", "filename", "sha256", "sha1", "md5", "size",
                                                           "url", "links", "rate", "cut_after")}]
        return arts or []

    def sm_id(self, act):
        return int(act.get("software_module", 100 + int(act["id"])))

    def etag(self, act, e):
        h = hashlib.sha256(json.dumps([act, e["status"]], sort_keys=True).encode()).digest()
        return int.from_bytes(h[:4], "big", signed=True)

    def deployment(self, act, base):
        download = act.get("download") or "forced"
        mw = act.get("maintenance_window")
        update = act.get("update") or ("skip" if mw == "unavailable" else download)
        d = {"download": download, "update": update}
        if mw is not None:
            d["maintenanceWindow"] = mw
        chunk = {"part": act.get("part", "os"), "version": str(act.get("version", "")),
                 "name": act.get("name", "osupdate")}
        sm = self.sm_id(act)
        arts = []
        for art in self.artifacts(act):
            fn = art.get("filename") or os.path.basename(art["file"])
            real = self.hashes.of(art["file"]) if art.get("file") and os.path.exists(art["file"]) else {}
            hashes = {"sha1": art.get("sha1", real.get("sha1")), "md5": art.get("md5", real.get("md5"))}
            sha256 = art.get("sha256", real.get("sha256"))
            if sha256 is not None:
                hashes["sha256"] = sha256
            url = art.get("url") or f"{base}/softwaremodules/{sm}/artifacts/{urllib.parse.quote(fn)}"
            links = {}
            for rel in art.get("links", ["download-http", "md5sum-http"]):
                links[rel] = {"href": url + ".MD5SUM" if rel.startswith("md5sum") else url}
            arts.append({"filename": fn, "hashes": hashes, "size": art.get("size", real.get("size")),
                         "_links": links})
        chunk["artifacts"] = arts
        if act.get("metadata"):
            chunk["metadata"] = [{"key": k, "value": str(v)} for k, v in act["metadata"].items()]
        d["chunks"] = [chunk]
        return d

    def history(self, e, count):
        if not count:
            return None
        msgs = list(reversed(e["messages"]))
        if count > 0:
            msgs = msgs[:count]
        return {"status": e["status"].upper(), "messages": msgs}

    # ---- requests ---------------------------------------------------------------------------

    def base_doc(self, st, base):
        doc = {"config": {"polling": {"sleep": st.get("polling_sleep", "00:05:00")}}, "_links": {}}
        links = doc["_links"]
        act, e = self.action(st)
        if act is not None and e["status"] in ACTIVE:
            if e["status"] == "wait_for_confirmation":
                links["confirmationBase"] = {"href": f"{base}/confirmationBase/{act['id']}?c={self.etag(act, e)}"}
            elif e["status"] == "canceling":
                links["cancelAction"] = {"href": f"{base}/cancelAction/{act['id']}"}
            else:
                links["deploymentBase"] = {"href": f"{base}/deploymentBase/{act['id']}?c={self.etag(act, e)}"}
        if self.db["last_finished"] is not None:
            links["installedBase"] = {"href": f"{base}/installedBase/{self.db['last_finished']}"}
        if st.get("request_attributes") and not self.db["attributes_received"]:
            links["configData"] = {"href": f"{base}/configData"}
        if st.get("link_base"):
            for v in links.values():
                u = urllib.parse.urlsplit(v["href"])
                v["href"] = st["link_base"].rstrip("/") + urllib.parse.urlunsplit(("", "", u.path, u.query, ""))
        if not links:
            del doc["_links"]
        return doc

    def record(self, e, status_text, body, code=None, details=None):
        e["feedback"].append(body)
        if details:
            e["messages"].extend(str(x) for x in details)
        else:
            e["messages"].append(status_text)
        if code is not None:
            e["messages"].append(f"Device reported status code: {code}")

    def feedback(self, st, ident, body, cancel):
        fb = parse_feedback(body)
        act, e = self.action_by_id(st, ident)
        ex, fin = fb["status"]["execution"], fb["status"]["result"]["finished"]
        details, code = fb["status"].get("details"), fb["status"].get("code")
        if len(details or []) > MAX_MESSAGES or len(e["feedback"]) >= MAX_STATUS_ENTRIES:
            raise quota()
        if cancel:
            if e["status"] != "canceling":
                raise DdiError(405, "hawkbit.server.error.action.notCancelable",
                               "The action is not in canceling state.")
            if ex == "closed" and fin != "failure":
                e["status"] = "canceled"
            elif (ex == "closed" and fin == "failure") or ex == "rejected":
                e["status"], e["cancel_rejected"] = "running", True
            self.record(e, f"cancel feedback {ex}", fb, code, details)
            return
        if e["status"] == "wait_for_confirmation":
            raise DdiError(404)
        if e["status"] not in ACTIVE:
            raise DdiError(410)
        if ex == "closed":
            e["status"] = "error" if fin == "failure" else "finished"
            if e["status"] == "finished":
                self.db["last_finished"] = int(act["id"])
        elif ex == "canceled" and e["status"] == "canceling":
            e["status"] = "canceled"
        elif ex == "downloaded" and act.get("download_only"):
            e["status"] = "finished"
            self.db["last_finished"] = int(act["id"])
        self.record(e, f"Target reported {ex}", fb, code, details)


def is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


class StrictError(DdiError):
    def __init__(self, what):
        super().__init__(400, "ddi-server.strict", what)


# The DDI model classes of hawkBit 1.1.0 (hawkbit-ddi-api …/ddi/json/model), field by field:
# name → (required, check). A check is a type, a tuple of allowed strings, or a nested model.
def _str(x):
    return isinstance(x, str)


def _long(x):
    return is_int(x)


def _strings(x):
    return isinstance(x, list) and all(isinstance(v, str) for v in x)


DDI_PROGRESS = {"cnt": (True, _long), "of": (False, _long)}
DDI_RESULT = {"finished": (True, FINISHED), "progress": (False, DDI_PROGRESS)}
DDI_STATUS = {"execution": (True, EXECUTION), "result": (True, DDI_RESULT), "code": (False, _long),
              "details": (False, _strings)}
DDI_ACTION_FEEDBACK = {"timestamp": (False, _long), "status": (True, DDI_STATUS)}
DDI_CONFIG_DATA = {"data": (True, lambda x: isinstance(x, dict) and all(isinstance(v, str) for v in x.values())),
                   "mode": (False, ("merge", "replace", "remove"))}
DDI_CONFIRMATION_FEEDBACK = {"confirmation": (True, ("confirmed", "denied")), "code": (False, _long),
                             "details": (False, _strings)}
DDI_ACTIVATE_AUTO_CONFIRMATION = {"initiator": (False, _str), "remark": (False, _str)}


def strict_check(model, body, where="body"):
    """Raises StrictError naming the first field that is not the model's, is missing, or has another type."""
    if not isinstance(body, dict):
        raise StrictError(f"{where}: not a JSON object")
    for k in body:
        if k not in model:
            raise StrictError(f"{where}.{k}: not a field of the DDI model")
    for k, (required, check) in model.items():
        if k not in body or body[k] is None:
            if required:
                raise StrictError(f"{where}.{k}: required")
            continue
        v = body[k]
        if isinstance(check, dict):
            strict_check(check, v, f"{where}.{k}")
        elif isinstance(check, tuple):
            if v not in check:
                raise StrictError(f"{where}.{k}: {v!r} is not one of {', '.join(check)}")
        elif not check(v):
            raise StrictError(f"{where}.{k}: {v!r} has the wrong type")


def parse_feedback(body):
    """DdiActionFeedback as hawkBit validates it (unknown keys ignored); 400 otherwise."""
    if not isinstance(body, dict) or not isinstance(body.get("status"), dict):
        raise bad_body()
    s = body["status"]
    if s.get("execution") not in EXECUTION or not isinstance(s.get("result"), dict):
        raise bad_body()
    r = s["result"]
    if r.get("finished") not in FINISHED:
        raise bad_body()
    p = r.get("progress")
    if p is not None and (not isinstance(p, dict) or not is_int(p.get("cnt"))
                          or (p.get("of") is not None and not is_int(p["of"]))):
        raise bad_body()
    if s.get("code") is not None and not is_int(s["code"]):
        raise bad_body()
    d = s.get("details")
    if d is not None and (not isinstance(d, list) or not all(isinstance(x, str) for x in d)):
        raise bad_body()
    if body.get("timestamp") is not None and not is_int(body["timestamp"]):
        raise bad_body()
    return body


def make_handler(srv):
    a = srv.a

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "ddi-server"

        def log_message(self, fmt, *args):
            pass

        def entry(self, status, sent, body):
            if not srv.log:
                return
            hdrs = {k: self.headers[k] for k in ("Authorization", "Range", "If-Match", "If-Range", "Content-Type",
                                                  "Accept", "User-Agent") if self.headers.get(k) is not None}
            u = urllib.parse.urlsplit(self.path)
            line = {"time": round(time.time(), 3), "method": self.command, "path": u.path,
                    "query": urllib.parse.parse_qs(u.query), "headers": hdrs, "body": body,
                    "status": status, "sent": sent}
            with srv.lock:
                srv.log.write(json.dumps(line, separators=(",", ":")) + "\n")
                srv.log.flush()

        def reply(self, code, doc=None, body_in=None, ctype="application/hal+json", raw=None, headers=()):
            if raw is not None:
                data = raw
            elif doc is not None:
                data = (json.dumps(doc, separators=(",", ":"))).encode()
            else:
                data = b""
            self.send_response(code)
            if data:
                self.send_header("Content-Type", ctype)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
            self.entry(code, len(data), body_in)

        def error(self, e, body_in):
            doc = None
            if e.error:
                doc = {"exceptionClass": "DdiServerError", "errorCode": e.error, "message": e.message}
            self.reply(e.code, doc, body_in, ctype="application/json")

        def read_body(self):
            n = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(n) if n > 0 else b""
            if not raw:
                return raw, None
            try:
                return raw, json.loads(raw)
            except ValueError:
                return raw, raw.decode("utf-8", "replace")

        def delay(self, st, path, raw):
            d = st.get("delay")
            if not d or not re.search(d.get("path", ""), path) or d.get("method", self.command) != self.command:
                return
            if d.get("match") and not re.search(d["match"], raw.decode("utf-8", "replace")):
                return
            with srv.lock:
                if d.get("count") is not None and srv.delays_done >= d["count"]:
                    return
                srv.delays_done += 1
            time.sleep(float(d.get("seconds", 5)))

        def authorized(self, st):
            if st.get("token_valid") is False:
                return False
            target = st.get("target_token", a.target_token)
            if target is None and a.gateway_token is None:
                return True
            auth = self.headers.get("Authorization") or ""
            if target is not None and auth == "TargetToken " + target:
                return True
            return a.gateway_token is not None and auth == "GatewayToken " + a.gateway_token

        def handle_any(self):
            raw, body = self.read_body() if self.command in ("POST", "PUT") else (b"", None)
            try:
                u = urllib.parse.urlsplit(self.path)
                q = urllib.parse.parse_qs(u.query)
                parts = [urllib.parse.unquote(x) for x in u.path.split("/")[1:]]
                with srv.lock:
                    st = srv.state()
                    err = st.get("http_error")
                    if err and re.search(err.get("path", ""), u.path) and \
                            err.get("method", self.command) == self.command and \
                            (not err.get("match") or re.search(err["match"], raw.decode("utf-8", "replace"))) and \
                            (err.get("count") is None or srv.errors_done < err["count"]):
                        srv.errors_done += 1
                        raise DdiError(int(err.get("status", 503)))
                    if len(parts) < 4 or parts[1:3] != ["controller", "v1"]:
                        raise DdiError(404)
                    if not self.authorized(st) or parts[0] != a.tenant:
                        raise DdiError(401)
                    if parts[3] != a.controller:
                        if (self.headers.get("Authorization") or "").startswith("TargetToken "):
                            raise DdiError(401)     # a target token belongs to one controller
                        raise not_found(f"Target with given identifier {{{parts[3]}}} does not exist.")
                    host = self.headers.get("Host") or f"127.0.0.1:{self.server.server_address[1]}"
                    scheme = "https" if a.cert else "http"
                    base = f"{scheme}://{host}/{parts[0]}/controller/v1/{parts[3]}"
                    rest = parts[4:]
                    rw = st.get("raw")
                    if rw and re.search(rw.get("path", ""), self.path) and rw.get("method", self.command) == self.command \
                            and (rw.get("count") is None or srv.raws_done < rw["count"]):
                        srv.raws_done += 1
                        n = srv.raws_done
                    else:
                        rw = None
                if rw is not None:
                    return self.send_raw(rw, n, body)
                with srv.lock:
                    if rest and rest[0] == "softwaremodules":
                        dl = self.download_plan(st, rest)
                    else:
                        dl = None
                        code, doc = self.route(st, rest, q, body, base)
                        srv.save()
                if dl is not None and dl[0] == "file":
                    return self.send_file(*dl[1])
                if dl is not None:
                    code, doc = 200, dl[1]
                self.delay(st, u.path, raw)
                self.reply(code, doc, body)
            except DdiError as e:
                self.error(e, body)
            except (ValueError, KeyError, TypeError, OSError) as e:
                self.reply(500, {"exceptionClass": type(e).__name__, "errorCode": "ddi-server",
                                 "message": str(e)}, body, ctype="application/json")

        def route(self, st, rest, q, body, base):
            m = self.command
            if not rest:
                if m != "GET":
                    raise DdiError(405)
                return 200, srv.base_doc(st, base)
            what = rest[0]
            if what == "deploymentBase" and len(rest) == 2 and m == "GET":
                act, e = srv.action_by_id(st, rest[1])
                if e["status"] in ("canceling", "canceled", "wait_for_confirmation"):
                    raise DdiError(404)
                doc = {"id": str(act["id"]), "deployment": srv.deployment(act, base)}
                h = srv.history(e, int(q.get("actionHistory", ["0"])[0]))
                if h:
                    doc["actionHistory"] = h
                e["messages"].append("Update Server: Target retrieved update action and should start now the download.")
                return 200, doc
            if what in ("deploymentBase", "cancelAction") and len(rest) == 3 and rest[2] == "feedback" and m == "POST":
                if a.strict:
                    strict_check(DDI_ACTION_FEEDBACK, body)
                srv.feedback(st, rest[1], body, what == "cancelAction")
                return 200, None
            if what == "cancelAction" and len(rest) == 2 and m == "GET":
                act, e = srv.action_by_id(st, rest[1])
                if e["status"] != "canceling":
                    raise DdiError(404)
                return 200, {"id": str(act["id"]), "cancelAction": {"stopId": str(act["id"])}}
            if what == "configData" and len(rest) == 1 and m == "PUT":
                if a.strict:
                    strict_check(DDI_CONFIG_DATA, body)
                if not isinstance(body, dict) or not isinstance(body.get("data"), dict) or not body["data"] \
                        or not all(isinstance(v, str) for v in body["data"].values()) \
                        or body.get("mode") not in (None, "merge", "replace", "remove"):
                    raise bad_body()
                mode, data = body.get("mode") or "merge", body["data"]
                if mode == "replace":
                    srv.db["attributes"] = dict(data)
                elif mode == "remove":
                    for k in data:
                        srv.db["attributes"].pop(k, None)
                else:
                    srv.db["attributes"].update(data)
                srv.db["attributes_received"] = True
                return 200, None
            if what == "confirmationBase":
                return self.confirmation(st, rest, q, body, base)
            if what == "installedBase" and len(rest) == 2 and m == "GET":
                act, e = srv.action_by_id(st, rest[1])
                if e["status"] in ACTIVE or e["status"] == "canceled":
                    raise DdiError(404)
                return 200, {"id": str(act["id"]), "deployment": srv.deployment(act, base)}
            if what == "installedBase" and len(rest) == 1 and m == "PUT":
                if not isinstance(body, dict) or not isinstance(body.get("name"), str) \
                        or not isinstance(body.get("version"), str):
                    raise bad_body()
                new = {"name": body["name"], "version": body["version"]}
                changed = srv.db["installed_version"] != new
                srv.db["installed_version"] = new
                return (201 if changed else 200), None
            raise DdiError(404)

        def confirmation(self, st, rest, q, body, base):
            m = self.command
            if len(rest) == 1 and m == "GET":
                act, e = srv.action(st)
                ac = srv.db["auto_confirm"] or {"active": srv.auto_confirm(st)}
                doc = {"autoConfirm": ac, "_links": {}}
                rel = "deactivateAutoConfirm" if ac["active"] else "activateAutoConfirm"
                doc["_links"][rel] = {"href": f"{base}/confirmationBase/{rel}"}
                if act is not None and e["status"] == "wait_for_confirmation":
                    doc["_links"]["confirmationBase"] = {
                        "href": f"{base}/confirmationBase/{act['id']}?c={srv.etag(act, e)}"}
                return 200, doc
            if len(rest) == 2 and m == "POST" and rest[1] in ("activateAutoConfirm", "deactivateAutoConfirm"):
                if a.strict and rest[1] == "activateAutoConfirm" and body is not None:
                    strict_check(DDI_ACTIVATE_AUTO_CONFIRMATION, body)
                if rest[1] == "activateAutoConfirm":
                    b = body if isinstance(body, dict) else {}
                    ac = {"active": True, "activatedAt": int(time.time() * 1000)}
                    for k in ("initiator", "remark"):
                        if isinstance(b.get(k), str):
                            ac[k] = b[k]
                    srv.db["auto_confirm"] = ac
                    act, e = srv.action(st)
                    if act is not None and e["status"] == "wait_for_confirmation":
                        e["confirmed"], e["status"] = True, "running"
                else:
                    srv.db["auto_confirm"] = {"active": False}
                return 200, None
            if len(rest) == 2 and m == "GET":
                act, e = srv.action_by_id(st, rest[1])
                if e["status"] != "wait_for_confirmation":
                    raise DdiError(404)
                doc = {"id": str(act["id"]), "confirmation": srv.deployment(act, base)}
                h = srv.history(e, int(q.get("actionHistory", ["0"])[0]))
                if h:
                    doc["actionHistory"] = h
                return 200, doc
            if len(rest) == 3 and rest[2] == "feedback" and m == "POST":
                if a.strict:
                    strict_check(DDI_CONFIRMATION_FEEDBACK, body)
                if not isinstance(body, dict) or body.get("confirmation") not in ("confirmed", "denied") \
                        or (body.get("code") is not None and not is_int(body["code"])) \
                        or (body.get("details") is not None and not isinstance(body["details"], list)):
                    raise bad_body()
                act, e = srv.action_by_id(st, rest[1])
                if e["status"] not in ACTIVE:
                    raise DdiError(410)
                if body["confirmation"] == "confirmed":
                    if e["status"] != "wait_for_confirmation":
                        raise DdiError(404)
                    e["confirmed"], e["status"] = True, "running"
                else:
                    if e["status"] == "canceling":
                        raise DdiError(404)
                    e["confirmed"], e["status"] = False, "wait_for_confirmation"
                srv.record(e, f"confirmation {body['confirmation']}", body, body.get("code"), body.get("details"))
                return 200, None
            raise DdiError(404)

        # ---- artifacts ------------------------------------------------------------------------

        def download_plan(self, st, rest):
            act, e = srv.action(st)
            if act is None or len(rest) < 3 or rest[1] != str(srv.sm_id(act)) or rest[2] != "artifacts":
                raise not_found("Software module could not be found.")
            if len(rest) == 3 and self.command == "GET":
                base = self.path.split("/softwaremodules/")[0]
                host = self.headers.get("Host") or "127.0.0.1"
                d = srv.deployment(act, f"{'https' if a.cert else 'http'}://{host}{base}")
                return "json", d["chunks"][0]["artifacts"]
            if len(rest) != 4 or self.command not in ("GET", "HEAD"):
                raise DdiError(404)
            name = rest[3]
            md5 = name.endswith(".MD5SUM")
            if md5:
                name = name[:-len(".MD5SUM")]
            for art in srv.artifacts(act):
                fn = art.get("filename") or os.path.basename(art["file"])
                if fn == name and art.get("file") and os.path.exists(art["file"]):
                    real = srv.hashes.of(art["file"])
                    if not md5:
                        e["messages"].append(f"Update Server: Target downloads {self.path.split('?')[0]}")
                        srv.save()
                    return "file", (art, fn, real, md5)
            raise not_found("Software module could not be found.")

        def send_raw(self, rw, n, body_in):
            """The "raw" state key: a hostile answer, huge, endless or trickled."""
            data = str(rw.get("body", "")).replace("{n}", str(n)).encode() * int(rw.get("repeat", 1))
            endless = bool(rw.get("endless"))
            rate = float(rw.get("rate") or 0)
            code = int(rw.get("status", 200))
            self.send_response(code)
            self.send_header("Content-Type", "application/hal+json")
            for k, v in (rw.get("headers") or {}).items():
                self.send_header(k, str(v))
            if endless:
                self.send_header("Connection", "close")
                self.close_connection = True
            else:
                self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            sent, t0 = 0, time.monotonic()
            step = max(1, int(rate / 20)) if rate else 65536
            try:
                while data:
                    for i in range(0, len(data), step):
                        self.wfile.write(data[i:i + step])
                        sent += len(data[i:i + step])
                        if rate:
                            self.wfile.flush()
                            ahead = sent / rate - (time.monotonic() - t0)
                            if ahead > 0:
                                time.sleep(ahead)
                    if not endless:
                        break
            except OSError:
                self.close_connection = True
            self.entry(code, sent, body_in)

        def send_file(self, art, fn, real, md5):
            if md5:
                data = f"{real['md5']}  {fn}".encode("ascii")
                return self.reply(200, raw=data, ctype="text/plain",
                                  headers=[("Content-Disposition", f"attachment;filename={fn}.MD5SUM")])
            size, etag = real["size"], '"' + real["sha1"] + '"'
            if_match = self.headers.get("If-Match")
            if if_match is not None and if_match.strip('"') != real["sha1"]:
                return self.reply(412)
            start, end, code = 0, size - 1, 200
            rng = self.headers.get("Range")
            if_range = self.headers.get("If-Range")
            if rng is not None and (if_range is None or if_range == etag):
                mm = re.fullmatch(r"bytes=(\d*)-(\d*)", rng.strip())
                ok = mm is not None and (mm.group(1) or mm.group(2))
                if ok:
                    if mm.group(1):
                        start = int(mm.group(1))
                        end = min(int(mm.group(2)), size - 1) if mm.group(2) else size - 1
                    else:
                        start = max(size - int(mm.group(2)), 0)
                    ok = start <= end and start < size
                if not ok:
                    return self.reply(416, headers=[("Content-Range", f"bytes */{size}")])
                code = 206
            length = end - start + 1
            self.send_response(code)
            self.send_header("Content-Disposition", f"attachment;filename={fn}")
            self.send_header("ETag", etag)
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("X-Content-Type-Options", "nosniff")
            if code == 206:
                self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
            self.send_header("Content-Length", str(length))
            self.end_headers()
            sent = 0
            if self.command == "GET":
                limit = length
                cut = art.get("cut_after")
                if cut is not None and start == 0:
                    limit = min(length, int(cut))
                rate = float(art.get("rate") or 0)
                t0 = time.monotonic()
                try:
                    with open(art["file"], "rb") as f:
                        f.seek(start)
                        while sent < limit:
                            chunk = f.read(min(65536 if not rate else max(1, int(rate / 20)), limit - sent))
                            if not chunk:
                                break
                            self.wfile.write(chunk)
                            sent += len(chunk)
                            if rate:
                                ahead = sent / rate - (time.monotonic() - t0)
                                if ahead > 0:
                                    time.sleep(ahead)
                    if sent < length:
                        self.wfile.flush()
                        self.close_connection = True
                        self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    self.close_connection = True
            self.entry(code, sent, None)

        do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = handle_any

    return Handler


class Httpd(http.server.ThreadingHTTPServer):
    daemon_threads = True
    ssl_context = None

    def get_request(self):
        sock, addr = super().get_request()
        if self.ssl_context:
            # The handshake runs in the request's thread (first read), never blocking accept().
            sock = self.ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def handle_error(self, request, client_address):
        pass


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True, help="port on 127.0.0.1 (0: any free one, see --port-file)")
    p.add_argument("--port-file", help="write the port here once listening")
    p.add_argument("--cert", help="server certificate (PEM): HTTPS; without it plain HTTP")
    p.add_argument("--key", help="its key (PEM)")
    p.add_argument("--client-ca", help="require client certificates from this CA (mTLS)")
    p.add_argument("--tenant", default="DEFAULT")
    p.add_argument("--controller", required=True, help="the controllerId this server knows")
    p.add_argument("--target-token", help="accept 'Authorization: TargetToken <this>'")
    p.add_argument("--gateway-token", help="accept 'Authorization: GatewayToken <this>'")
    p.add_argument("--state", help="the JSON the test writes to script the server (re-read on every request)")
    p.add_argument("--db", help="what the server learnt, kept across restarts (default: STATE.db)")
    p.add_argument("--log", help="one JSON line per request")
    p.add_argument("--strict", action="store_true", help="request bodies: exactly the DDI model's fields (else 400)")
    a = p.parse_args()
    if bool(a.cert) != bool(a.key):
        p.error("--cert and --key go together")

    srv = Server(a)
    httpd = Httpd(("127.0.0.1", a.port), make_handler(srv))
    if a.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.cert, a.key)
        if a.client_ca:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(a.client_ca)
        httpd.ssl_context = ctx
    if a.port_file:
        with open(a.port_file + ".tmp", "w") as f:
            f.write(f"{httpd.server_address[1]}\n")
        os.rename(a.port_file + ".tmp", a.port_file)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
