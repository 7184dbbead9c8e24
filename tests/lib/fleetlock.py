#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A FleetLock server for the tests, speaking what Airlock speaks (Zincati's protocol):

  POST /v1/pre-reboot    take a slot of the group's semaphore (recursive: a holder takes it again)
  POST /v1/steady-state  give it back (a non-holder: nothing to do, 200)

with the header `fleet-lock-protocol: true` and the body {"client_params": {"id": ID, "group": G}}.
200 is success; a failure is Airlock's http.Error(w, `{"kind":…,"value":…}`, code): 400
invalid_client_identity (wrong header, bad JSON, empty id or group), 400 unknown_group (a group
that is not [a-zA-Z0-9.-]+: this server takes any such group, each with --slots slots), 500
failed_sem_init (etcd cannot be reached), 500 failed_lock ("all N semaphore slots currently
locked" when full, "conflict on semaphore detected, aborting" after a lost race, or a value that
is not Airlock's).

The semaphore lives in etcd with Airlock's layout, so machines that use etcd directly share it:
key com.coreos.airlock/groups/<group>/v1/semaphore, value {"total_slots":N,"holders":[…]} as Go
marshals it (compact, holders sorted), created if missing (a transaction on create_revision 0),
changed only by a compare-and-swap on the key's mod_revision. etcd is reached through its v3
HTTP/JSON gateway (POST /v3/kv/range, /v3/kv/txn), each --etcd endpoint in turn.

Python 3 standard library only. Each request is logged as one line to --log:
  <unix time> <path> <status> id=<id> group=<group> kind=<kind>
"""

import argparse
import base64
import http.server
import json
import os
import random
import re
import sys
import threading
import time
import urllib.error
import urllib.request

GROUP_RE = re.compile(r"^[a-zA-Z0-9.-]+$")
KEY_FMT = "com.coreos.airlock/groups/{}/v1/semaphore"
CAS_ATTEMPTS = 20


class HTTPError(Exception):
    def __init__(self, code, kind, value):
        super().__init__(value)
        self.code, self.kind, self.value = code, kind, value


def b64(s):
    return base64.b64encode(s.encode()).decode()


class Etcd:
    def __init__(self, endpoints):
        self.endpoints = endpoints
        self.current = 0

    def call(self, what, body):
        errors = []
        data = json.dumps(body).encode()
        for k in range(len(self.endpoints)):
            i = (self.current + k) % len(self.endpoints)
            url = self.endpoints[i].rstrip("/") + "/v3/kv/" + what
            req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=5) as r:
                    out = json.loads(r.read(1 << 20))
                self.current = i
                return out
            except urllib.error.HTTPError as e:
                errors.append(f"{url}: HTTP {e.code}")
            except (OSError, ValueError) as e:
                errors.append(f"{url}: {e}")
        raise HTTPError(500, "failed_sem_init", "no etcd endpoint answered: " + "; ".join(errors))

    def read(self, key):
        """(semaphore dict or None, mod_revision)"""
        out = self.call("range", {"key": b64(key)})
        kvs = out.get("kvs") or []
        if not kvs:
            return None, 0
        kv = kvs[0]
        raw = base64.b64decode(kv.get("value", ""))
        try:
            sem = json.loads(raw)
        except ValueError:
            sem = None
        if (not isinstance(sem, dict) or set(sem) != {"total_slots", "holders"}
                or not isinstance(sem["total_slots"], int) or isinstance(sem["total_slots"], bool)
                or sem["total_slots"] < 0
                or not isinstance(sem["holders"] if sem["holders"] is not None else [], list)):
            raise HTTPError(500, "failed_lock", f"the value of {key} is not a semaphore; left as it is")
        sem["holders"] = sem["holders"] or []
        if not all(isinstance(h, str) and h for h in sem["holders"]):
            raise HTTPError(500, "failed_lock", f"the value of {key} is not a semaphore; left as it is")
        return sem, int(kv["mod_revision"])

    def write_if(self, key, mod_revision, sem):
        value = json.dumps({"total_slots": sem["total_slots"], "holders": sem["holders"]}, separators=(",", ":"))
        if mod_revision == 0:
            cmp = {"target": "CREATE", "key": b64(key), "create_revision": "0"}
        else:
            cmp = {"target": "MOD", "key": b64(key), "mod_revision": str(mod_revision)}
        out = self.call("txn", {"compare": [cmp], "success": [{"request_put": {"key": b64(key), "value": b64(value)}}]})
        return bool(out.get("succeeded"))


class Server:
    def __init__(self, etcd, slots, log):
        self.etcd, self.slots, self.log = etcd, slots, log
        self.log_lock = threading.Lock()

    def change(self, group, holder, take):
        key = KEY_FMT.format(group)
        for attempt in range(CAS_ATTEMPTS):
            if attempt:
                time.sleep(random.uniform(0.01, 0.05))
            sem, rev = self.etcd.read(key)
            if sem is None:
                # Airlock's ensureInit(): the semaphore is created empty on first use.
                self.etcd.write_if(key, 0, {"total_slots": self.slots, "holders": []})
                continue
            holders = sem["holders"]
            if take:
                if holder in holders:
                    return
                if len(holders) >= sem["total_slots"]:
                    raise HTTPError(500, "failed_lock", f"all {sem['total_slots']} semaphore slots currently locked")
                holders = sorted(holders + [holder])
            else:
                if holder not in holders:
                    return
                holders = [h for h in holders if h != holder]
            if self.etcd.write_if(key, rev, {"total_slots": sem["total_slots"], "holders": holders}):
                return
        raise HTTPError(500, "failed_lock", "conflict on semaphore detected, aborting")


def make_handler(server):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            pass

        def answer(self, code, ident, group, kind="", value=""):
            if code == 200:
                body = b""
                ctype = None
            else:
                body = (json.dumps({"kind": kind, "value": value}, separators=(",", ":")) + "\n").encode()
                ctype = "text/plain; charset=utf-8"
            self.send_response(code)
            if ctype:
                self.send_header("Content-Type", ctype)
                self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            with server.log_lock:
                server.log.write(f"{time.time():.3f} {self.path} {code} id={ident} group={group} kind={kind or '-'}\n")
                server.log.flush()

        def do_GET(self):
            self.answer(405, "-", "-", "method_not_allowed", "only POST")

        def do_POST(self):
            ident, group = "-", "-"
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(min(length, 1 << 16)) if length > 0 else b""
            if self.path not in ("/v1/pre-reboot", "/v1/steady-state"):
                return self.answer(404, ident, group, "not_found", f"no endpoint {self.path}")
            try:
                if self.headers.get("fleet-lock-protocol") != "true":
                    raise HTTPError(400, "invalid_client_identity",
                                    "failed to validate client identity: wrong 'fleet-lock-protocol' header")
                try:
                    params = json.loads(raw)["client_params"]
                    group, ident = params.get("group") or "", params.get("id") or ""
                except (ValueError, KeyError, TypeError, AttributeError) as e:
                    raise HTTPError(400, "invalid_client_identity", f"failed to validate client identity: {e}")
                if not isinstance(group, str) or not group:
                    raise HTTPError(400, "invalid_client_identity", "failed to validate client identity: empty client group")
                if not isinstance(ident, str) or not ident:
                    raise HTTPError(400, "invalid_client_identity", "failed to validate client identity: empty client ID")
                if not GROUP_RE.match(group):
                    raise HTTPError(400, "unknown_group", f"unknown group {group!r}")
                server.change(group, ident, self.path == "/v1/pre-reboot")
                self.answer(200, ident, group)
            except HTTPError as e:
                self.answer(e.code, ident, group, e.kind, e.value)

    return Handler


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--listen", type=int, required=True, help="port on 127.0.0.1 (0: any free one, see --port-file)")
    p.add_argument("--etcd", required=True, help="URL[,URL…] of etcd's client endpoints")
    p.add_argument("--slots", type=int, default=1, help="total_slots of a semaphore this server creates")
    p.add_argument("--log", help="request log (default: stderr)")
    p.add_argument("--port-file", help="write the port here once listening")
    a = p.parse_args()

    log = open(a.log, "a") if a.log else sys.stderr
    srv = Server(Etcd([u for u in a.etcd.split(",") if u]), a.slots, log)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", a.listen), make_handler(srv))
    if a.port_file:
        with open(a.port_file + ".tmp", "w") as f:
            f.write(f"{httpd.server_address[1]}\n")
        os.rename(a.port_file + ".tmp", a.port_file)
    httpd.serve_forever()


if __name__ == "__main__":
    main()
