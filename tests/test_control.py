"""The control API (``--control``), ``ftpfault ctl`` and the journal (``--journal``), end to end.

The API is driven with a real HTTP client (http.client) while ftplib transfers, against the
in-process ``server`` fixture; the command line parts run a real ``ftpfault --headless
--control 0 --journal FILE`` and ``ftpfault ctl`` as subprocesses. What the clients saw (HTTP
replies, ftplib exceptions, bytes sent) is checked against what the server reports (events,
the journal, the board, the files on disk).
"""

from __future__ import annotations

import asyncio
import ftplib
import http.client
import io
import json
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from conftest import (
    DEADLINE, FTPFAULT, PASSWORD, USER, connect, ftpfault_env, payload, sha256, until,
    wait_until,
)

from tui.engine.api import ControlAPI
from tui.engine.journal import Journal
from tui.engine.server import FaultServer

EVENT_KEYS = {"seq", "time", "kind", "session"}
ALL_KINDS = {"session.open", "session.close", "login", "command", "reply", "transfer", "fault"}


# --- an HTTP client, the API in-process, the journal


class Response:
    def __init__(self, status: int, headers: http.client.HTTPMessage, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def json(self):
        return json.loads(self.body) if self.body else None

    @property
    def error(self) -> str:
        data = self.json
        assert isinstance(data, dict) and isinstance(data.get("error"), str), self.body
        return data["error"]


class Http:
    """One connection per request, like curl or a CI script; every call has a timeout."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname, parts.port

    def call(self, method: str, path: str, body=None, *, raw: bytes | None = None,
             headers: dict | None = None) -> Response:
        data = raw if raw is not None else None if body is None else json.dumps(body).encode()
        conn = http.client.HTTPConnection(self.host, self.port, timeout=DEADLINE)
        try:
            conn.request(method, path, body=data,
                         headers={"Content-Type": "application/json", **(headers or {})})
            resp = conn.getresponse()
            return Response(resp.status, resp.headers, resp.read())
        finally:
            conn.close()

    def get(self, path: str):
        resp = self.call("GET", path)
        assert resp.status == 200, (path, resp.status, resp.body)
        assert resp.headers["Content-Type"] == "application/json"
        return resp.json

    def post_rule(self, spec: str) -> dict:
        resp = self.call("POST", "/rules", {"spec": spec})
        assert resp.status == 201, resp.body
        return resp.json


@pytest.fixture
def api(server: FaultServer):
    control = ControlAPI(server, "127.0.0.1", 0).start()
    yield control
    control.stop()


@pytest.fixture
def http_api(api: ControlAPI) -> Http:
    return Http(api.url)


def read_journal(path: Path) -> list[dict]:
    """The journal's complete lines (a line still being written is left for the next read)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.splitlines(keepends=True) if line.endswith("\n")]


def journal_reaches(path: Path, seq: int) -> list[dict]:
    return wait_until(lambda: (lines := read_journal(path)) and lines[-1].get("seq", 0) >= seq and lines,
                      what=f"the journal to reach seq {seq}")


# --- ftplib, with what the client saw


def store(ftp: ftplib.FTP, name: str, data: bytes) -> int:
    """Upload; the final reply's code (a fault's too). The session must stay usable."""
    try:
        code = int(ftp.storbinary(f"STOR {name}", io.BytesIO(data))[:3])
    except (ftplib.error_temp, ftplib.error_perm) as err:
        code = int(str(err)[:3])
    assert ftp.voidcmd("NOOP").startswith("200")
    return code


def fetch(ftp: ftplib.FTP, name: str) -> tuple[int, bytes]:
    got = bytearray()
    try:
        code = int(ftp.retrbinary(f"RETR {name}", got.extend)[:3])
    except (ftplib.error_temp, ftplib.error_perm) as err:
        code = int(str(err)[:3])
    assert ftp.voidcmd("NOOP").startswith("200")
    return code, bytes(got)


def one_final_reply_per_command(events: list[dict]) -> None:
    """Per session: after each command, replies up to the next command are 1xx then one final."""
    by_session: dict[int, list[dict]] = {}
    for e in events:
        if e["kind"] in ("command", "reply"):
            by_session.setdefault(e["session"], []).append(e)
    for session, items in by_session.items():
        replies_after: list[list[int]] = []
        for e in items:
            if e["kind"] == "command":
                replies_after.append([])
            elif replies_after:
                replies_after[-1].append(e["code"])
            else:
                assert e["code"] == 220, (session, e)  # the greeting
        for codes in replies_after:
            finals = [c for c in codes if c >= 200]
            assert len(finals) == 1 and all(c < 200 for c in codes[:-1]), (session, codes)


# --- the API and the board: one board


def test_index_names_the_ftp_server_and_endpoints(server, http_api):
    index = http_api.get("/")
    assert index["ftp"] == server.url
    assert "/rules" in index["endpoints"] and "/sessions" in index["endpoints"]
    assert http_api.get("/rules") == []


def test_rule_posted_to_the_api_fires_on_ftplib_once(server, root, http_api):
    rule = http_api.post_rule("upload=451,times=1")
    assert rule["id"] and rule["spec"] == "upload=451,times=1"
    assert (rule["enabled"], rule["code"], rule["fired"], rule["remaining"]) == (True, 451, 0, 1)
    assert server.board.get(rule["id"]).spec == "upload=451,times=1"  # the same board

    ftp = connect(server)
    with pytest.raises(ftplib.error_temp, match=r"^451 Requested action aborted"):
        ftp.storbinary("STOR a.bin", io.BytesIO(b"a" * 1000))
    assert ftp.voidcmd("NOOP").startswith("200")
    assert store(ftp, "b.bin", b"b" * 2000) == 226  # times=1: the second upload succeeds
    ftp.quit()

    after = http_api.get(f"/rules/{rule['id']}")
    assert (after["fired"], after["remaining"], after["exhausted"], after["enabled"]) == (1, 0, True, False)
    assert http_api.get("/rules") == [after]
    faults = http_api.get("/events?kind=fault")
    assert len(faults) == 1
    assert {k: faults[0][k] for k in ("rule", "point", "code", "path")} == {
        "rule": rule["id"], "point": "upload", "code": 451, "path": "/a.bin"}
    assert faults[0]["message"] == "Requested action aborted: local error in processing."
    assert faults == [e.to_dict() for e in server.fired()]
    assert (root / "a.bin").read_bytes() == b"a" * 1000  # keep=yes: the bytes stay


def test_rules_set_on_the_board_show_in_the_api_and_back(server, http_api):
    rule = server.arm("download=426,path=*.iso")
    listed = http_api.get("/rules")
    assert [(r["id"], r["spec"], r["enabled"]) for r in listed] == [
        (rule.id, "download=426,path=*.iso", True)]
    assert listed[0]["trigger"] == "path *.iso" and listed[0]["action"] == "reply 426"

    assert http_api.call("PATCH", f"/rules/{rule.id}", {"enabled": False}).status == 200
    assert server.board.get(rule.id).enabled is False
    server.board.update(rule.id, enabled=True)
    assert http_api.get(f"/rules/{rule.id}")["enabled"] is True

    posted = http_api.post_rule("cmd:CWD=550")
    assert [r.id for r in server.board.rules()] == [rule.id, posted["id"]]
    server.disarm(rule.id)
    assert [r["id"] for r in http_api.get("/rules")] == [posted["id"]]


def test_patch_enabled_turns_a_fault_off_and_on_live(server, http_api):
    rule = http_api.post_rule("upload=451")
    ftp = connect(server)  # one session throughout: changes apply without reconnecting
    assert store(ftp, "1.bin", b"1") == 451
    resp = http_api.call("PATCH", f"/rules/{rule['id']}", {"enabled": False})
    assert resp.status == 200 and resp.json["enabled"] is False and resp.json["id"] == rule["id"]
    assert store(ftp, "2.bin", b"2") == 226
    assert http_api.call("PATCH", f"/rules/{rule['id']}", {"enabled": True}).json["enabled"] is True
    assert store(ftp, "3.bin", b"3") == 451
    ftp.quit()
    assert http_api.get(f"/rules/{rule['id']}")["fired"] == 2


def test_patch_spec_replaces_the_rule_in_place(server, http_api):
    rule = http_api.post_rule("upload=451")
    ftp = connect(server)
    assert store(ftp, "1.bin", b"1") == 451

    resp = http_api.call("PATCH", f"/rules/{rule['id']}", {"spec": "upload=452:Quota exceeded,times=1"})
    assert resp.status == 200, resp.body
    changed = resp.json
    assert (changed["id"], changed["spec"], changed["enabled"]) == (
        rule["id"], "upload=452:Quota exceeded,times=1", True)
    assert changed["fired"] == 1 and changed["remaining"] == 1  # fired kept, times afresh
    with pytest.raises(ftplib.error_temp, match="^452 Quota exceeded$"):
        ftp.storbinary("STOR 2.bin", io.BytesIO(b"2"))
    assert ftp.voidcmd("NOOP").startswith("200")

    # a disabled rule stays disabled when only its spec changes; both at once is one change
    http_api.call("PATCH", f"/rules/{rule['id']}", {"enabled": False})
    assert http_api.call("PATCH", f"/rules/{rule['id']}", {"spec": "upload=450"}).json["enabled"] is False
    assert store(ftp, "3.bin", b"3") == 226
    both = http_api.call("PATCH", f"/rules/{rule['id']}", {"spec": "upload=451:Both", "enabled": True})
    assert both.status == 200 and both.json["enabled"] is True and both.json["spec"] == "upload=451:Both"
    with pytest.raises(ftplib.error_temp, match="^451 Both$"):
        ftp.storbinary("STOR 4.bin", io.BytesIO(b"4"))
    ftp.close()


def test_a_rejected_patch_changes_nothing(server, http_api):
    rule = http_api.post_rule("upload=451")
    for body, named in [({"spec": "upload=452", "enabled": "no"}, "'enabled'"),
                        ({"spec": "upload=452,tims=1", "enabled": False}, "'tims'"),
                        ({"spec": "upload=452", "colour": "red"}, "'colour'")]:
        resp = http_api.call("PATCH", f"/rules/{rule['id']}", body)
        assert resp.status == 400 and named in resp.error, (body, resp.body)
        now = server.board.get(rule["id"])
        assert (now.spec, now.enabled) == ("upload=451", True), body


def test_delete_one_rule_then_it_is_404(server, http_api):
    keep = http_api.post_rule("download=426")
    gone = http_api.post_rule("upload=451")
    resp = http_api.call("DELETE", f"/rules/{gone['id']}")
    assert (resp.status, resp.body) == (204, b"")
    assert [r.id for r in server.board.rules()] == [keep["id"]]
    again = http_api.call("DELETE", f"/rules/{gone['id']}")
    assert again.status == 404 and gone["id"] in again.error
    assert http_api.call("GET", f"/rules/{gone['id']}").status == 404


def test_delete_all_and_reset_leave_no_rules_and_no_counters(server, http_api):
    first = http_api.post_rule("upload=451")
    http_api.post_rule("download=426")
    ftp = connect(server)
    assert store(ftp, "a.bin", b"a") == 451
    resp = http_api.call("DELETE", "/rules")
    assert (resp.status, resp.body) == (204, b"")
    assert http_api.get("/rules") == [] and server.board.rules() == []
    assert store(ftp, "b.bin", b"b") == 226

    again = http_api.post_rule("upload=451")
    assert store(ftp, "c.bin", b"c") == 451
    assert http_api.get(f"/rules/{again['id']}")["fired"] == 1
    resp = http_api.call("POST", "/reset")
    assert (resp.status, resp.body) == (204, b"")
    assert http_api.get("/rules") == []
    fresh = http_api.post_rule("upload=451")
    assert (fresh["fired"], fresh["matched"]) == (0, 0)
    assert fresh["id"] not in (first["id"], again["id"])  # an old id never comes back
    ftp.quit()


# --- errors: JSON messages naming the problem, and the server goes on


ERRORS = [
    # method, path, body (dict, or bytes sent as is), status, a fragment of the message
    ("POST", "/rules", b"not json", 400, "not JSON"),
    ("POST", "/rules", b"\xff\xfe", 400, "not JSON"),
    ("POST", "/rules", b"[1, 2]", 400, "JSON object"),
    ("POST", "/rules", b'"upload=451"', 400, "JSON object"),
    ("POST", "/rules", {"spek": "upload=451"}, 400, "'spek'"),
    ("POST", "/rules", {"spec": "upload=451", "extra": 1}, 400, "extra"),
    ("POST", "/rules", {"spec": "upload=451,tims=1"}, 400, "'tims'"),
    ("POST", "/rules", {"spec": "sideways=426"}, 400, "'sideways'"),
    ("POST", "/rules", {"spec": "upload=999"}, 400, "999"),
    ("POST", "/rules", {"spec": "upload=451,times=0"}, 400, "times"),
    ("POST", "/rules", {"spec": 451}, 400, "spec"),
    ("POST", "/rules", {}, 400, "point"),
    ("PATCH", "/rules/{id}", b"{", 400, "not JSON"),
    ("PATCH", "/rules/{id}", b"[]", 400, "JSON object"),
    ("PATCH", "/rules/{id}", {}, 400, "'enabled'"),
    ("PATCH", "/rules/{id}", {"bogus": True}, 400, "'bogus'"),
    ("PATCH", "/rules/{id}", {"enabled": "false"}, 400, "'enabled'"),
    ("PATCH", "/rules/{id}", {"spec": ["upload"]}, 400, "'spec'"),
    ("PATCH", "/rules/{id}", {"spec": "upload=451,every=x"}, 400, "every"),
    ("PATCH", "/rules/r999", {"enabled": False}, 404, "'r999'"),
    ("GET", "/rules/r999", None, 404, "'r999'"),
    ("DELETE", "/rules/r999", None, 404, "'r999'"),
    ("PUT", "/rules", {"spec": "upload"}, 405, "PUT"),
    ("PUT", "/rules/{id}", {"spec": "upload"}, 405, "PUT"),
    ("POST", "/rules/{id}", {"enabled": False}, 405, "POST"),
    ("GET", "/reset", None, 405, "GET"),
    ("DELETE", "/reset", None, 405, "DELETE"),
    ("POST", "/events", None, 405, "POST"),
    ("DELETE", "/sessions", None, 405, "DELETE"),
    ("GET", "/nope", None, 404, "/nope"),
    ("GET", "/rules/{id}/more", None, 404, "/rules/"),
    ("GET", "/events?since=abc", None, 400, "'abc'"),
    ("GET", "/events?since=1.5", None, 400, "'1.5'"),
    ("GET", "/events?since=--5", None, 400, "'--5'"),
    ("GET", "/events?since=%C2%B2", None, 400, "since="),  # '²': str.isdigit() says yes
]


@pytest.mark.parametrize("method, path, body, status, fragment", ERRORS,
                         ids=[f"{m} {p} {b!r:.30}" for m, p, b, *_ in ERRORS])
def test_errors_are_json_naming_the_problem(server, http_api, method, path, body, status, fragment):
    rule = http_api.post_rule("upload=451")
    before = http_api.get("/rules")
    path = path.replace("{id}", rule["id"])
    resp = (http_api.call(method, path, raw=body) if isinstance(body, bytes)
            else http_api.call(method, path, body))
    assert resp.status == status, resp.body
    assert resp.headers["Content-Type"] == "application/json"
    assert fragment in resp.error and "internal error" not in resp.error
    if status == 405:
        assert method not in resp.headers["Allow"] and resp.headers["Allow"]
    assert http_api.get("/rules") == before  # nothing changed
    ftp = connect(server)  # and both servers go on
    assert ftp.voidcmd("NOOP").startswith("200")
    ftp.quit()


@pytest.mark.parametrize("length", ["abc", "-1", "+5", "1e3"])
def test_a_bad_content_length_is_400(http_api, length):
    resp = http_api.call("POST", "/rules", headers={"Content-Length": length})
    assert resp.status == 400 and "Content-Length" in resp.error
    assert http_api.get("/rules") == []


def test_garbage_on_the_api_port_does_not_stop_it(server, api, http_api):
    for junk in (b"\x00\xff\x16\x03\x01 hello\r\n\r\n", b"GET /rules HTTP/1.1\r\nHost: x\r\n",
                 b"POST /rules HTTP/1.0\r\nContent-Length: 100\r\n\r\n{\"spec\""):
        with socket.create_connection((api.host, api.port), timeout=DEADLINE) as sock:
            sock.sendall(junk)
            sock.shutdown(socket.SHUT_WR)  # half a request, then nothing more
            sock.settimeout(DEADLINE)
            while sock.recv(4096):
                pass
    assert http_api.get("/rules") == []
    assert http_api.post_rule("upload=451")["id"]
    ftp = connect(server)
    assert store(ftp, "x.bin", b"x") == 451
    ftp.quit()


def test_a_rule_removed_while_the_api_reads_it_is_never_a_500(server, http_api, monkeypatch):
    """The console (or another client) removes a rule between the API's two looks at the
    board: the rule, then its counters. Made to happen every time by removing it in between."""
    board = server.board
    gone, kept = board.add("upload=451"), board.add("download=426")
    real_rules, real_get, real_add = board.rules, board.get, board.add

    def rules_then_remove():
        listed = real_rules()
        if gone.id in board._rules:
            board.remove(gone.id)
        return listed

    monkeypatch.setattr(board, "rules", rules_then_remove)
    resp = http_api.call("GET", "/rules")
    assert resp.status == 200, resp.body
    assert [r["id"] for r in resp.json] == [kept.id]
    monkeypatch.setattr(board, "rules", real_rules)

    def get_then_remove(rule_id):
        rule = real_get(rule_id)
        board.remove(rule_id)
        return rule

    monkeypatch.setattr(board, "get", get_then_remove)
    resp = http_api.call("GET", f"/rules/{kept.id}")
    assert resp.status == 404 and kept.id in resp.error
    monkeypatch.setattr(board, "get", real_get)

    def add_then_clear(rule):
        added = real_add(rule)
        board.clear()
        return added

    monkeypatch.setattr(board, "add", add_then_clear)
    resp = http_api.call("POST", "/rules", {"spec": "upload=452,times=2"})
    assert resp.status == 201, resp.body
    assert (resp.json["spec"], resp.json["fired"], resp.json["remaining"]) == ("upload=452,times=2", 0, 2)


def test_get_rules_while_the_board_changes_stays_200(server, http_api):
    """The same, for real: another thread arms and clears rules while clients read them."""
    stop = threading.Event()

    def churn() -> None:
        while not stop.wait(0.001):
            for _ in range(20):
                server.board.add("upload=451")
            server.board.clear()

    churner = threading.Thread(target=churn, daemon=True)
    churner.start()
    try:
        statuses = Counter(http_api.call("GET", "/rules").status for _ in range(100))
        statuses.update(http_api.call("POST", "/rules", {"spec": "download=426"}).status for _ in range(30))
    finally:
        stop.set()
        churner.join(DEADLINE)
    assert set(statuses) <= {200, 201}, statuses


# --- events: the journal over HTTP


def test_every_event_has_its_fields_and_matches_fault_server_events(server, root, http_api):
    (root / "d.bin").write_bytes(payload(70_000))
    http_api.post_rule("upload=451,times=1")
    ftp = connect(server)
    assert store(ftp, "u.bin", payload(30_000, 1)) == 451
    code, data = fetch(ftp, "d.bin")
    assert code == 226 and data == payload(70_000)
    ftp.retrlines("LIST", lambda line: None)
    ftp.quit()
    wait_until(lambda: http_api.get("/events?kind=session.close"), what="session.close")

    events = http_api.get("/events?since=0")
    assert events == [e.to_dict() for e in server.events()]  # the same objects
    assert ALL_KINDS <= {e["kind"] for e in events}
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(set(seqs))  # growing, no duplicates
    for e in events:
        assert EVENT_KEYS <= set(e), e
        assert isinstance(e["time"], float) and abs(e["time"] - time.time()) < 60
        assert e["session"] == 1
    transfers = {(e["path"], e["direction"]): (e["bytes"], e["code"])
                 for e in events if e["kind"] == "transfer" and e["direction"] != "list"}
    assert transfers == {("/u.bin", "upload"): (30_000, 451), ("/d.bin", "download"): (70_000, 226)}
    (fault,) = [e for e in events if e["kind"] == "fault"]
    assert {"rule", "point", "code", "message", "path"} <= set(fault)
    login = next(e for e in events if e["kind"] == "login")
    assert login["user"] == USER
    assert not any(e["kind"] == "transfer.progress" for e in events)
    one_final_reply_per_command(events)

    last = seqs[-1]
    assert http_api.get(f"/events?since={last}") == []
    assert http_api.get(f"/events?since={seqs[-3]}") == events[-2:]
    assert http_api.get("/events?since=-1") == events
    assert http_api.get("/events?kind=fault&since=0") == [fault]


def test_a_zero_byte_transfer_event_still_says_bytes(server, http_api):
    ftp = connect(server)
    assert store(ftp, "empty.bin", b"") == 226
    ftp.quit()
    (transfer,) = wait_until(lambda: http_api.get("/events?kind=transfer"), what="the transfer")
    assert {"path", "direction", "bytes", "code"} <= set(transfer), transfer
    assert transfer["bytes"] == 0


def test_a_login_fault_event_still_says_path(server, http_api):
    rule = http_api.post_rule("login=530:No entry,times=1")
    ftp = ftplib.FTP(timeout=DEADLINE)
    ftp.connect("127.0.0.1", server.port)
    with pytest.raises(ftplib.error_perm, match="^530 No entry$"):
        ftp.login(USER, PASSWORD)
    ftp.close()
    (fault,) = wait_until(lambda: http_api.get("/events?kind=fault"), what="the fault")
    assert fault["rule"] == rule["id"] and fault["code"] == 530
    assert {"rule", "point", "code", "message", "path"} <= set(fault), fault


def test_events_since_pages_without_gaps_or_duplicates(server, http_api):
    http_api.post_rule("upload=451,every=3")
    done = threading.Event()
    failures: list[BaseException] = []

    def traffic(n: int) -> None:
        try:
            ftp = connect(server)
            for j in range(12):
                store(ftp, f"p{n}-{j}.bin", payload(5_000 + j, n))
            ftp.quit()
        except BaseException as err:  # noqa: BLE001 - reported by the test
            failures.append(err)

    clients = [threading.Thread(target=traffic, args=(n,), daemon=True) for n in range(4)]
    for c in clients:
        c.start()
    watcher = threading.Thread(target=lambda: [c.join(DEADLINE) for c in clients] and done.set(),
                               daemon=True)
    watcher.start()
    pages, since = [], 0
    while True:
        finished = done.is_set()  # read before the page: one more page after the last event
        page = http_api.get(f"/events?since={since}")
        pages.append(page)
        if page:
            since = page[-1]["seq"]
        elif finished:
            break
        else:
            done.wait(0.01)  # pace the polling; the loop ends on the page after done
    assert not failures, failures
    paged = [e for page in pages for e in page]
    assert len([p for p in pages if p]) > 3  # it did page while traffic ran
    assert paged == http_api.get("/events?since=0") == [e.to_dict() for e in server.events()]
    assert [e["seq"] for e in paged] == sorted({e["seq"] for e in paged})
    assert sum(1 for e in paged if e["kind"] == "fault") == 4 * 12 // 3


def test_sessions_say_who_is_connected_and_what_they_do(server, root, http_api):
    (root / "sub").mkdir()
    big = payload(32 * 1024 * 1024)  # more than loopback's socket buffers hold
    (root / "big.bin").write_bytes(big)
    idle = connect(server)
    idle.cwd("sub")
    busy = connect(server)
    busy.voidcmd("TYPE I")
    data = busy.transfercmd("RETR big.bin")  # not read yet: the transfer is stuck mid-way

    def both() -> dict | None:
        sessions = {s["command"]: s for s in http_api.get("/sessions")}
        if sessions.get("RETR big.bin", {}).get("state") == "downloading":
            return sessions
        return None

    sessions = wait_until(both, what="a downloading session in GET /sessions")
    assert len(sessions) == 2
    cwd = sessions["CWD sub"]
    assert (cwd["user"], cwd["state"], cwd["cwd"]) == (USER, "logged in", "/sub")
    assert cwd["client"].startswith("127.0.0.1:")
    assert sessions["RETR big.bin"]["user"] == USER

    got = bytearray()
    data.settimeout(DEADLINE)
    while chunk := data.recv(1 << 20):
        got.extend(chunk)
    data.close()
    assert busy.voidresp().startswith("226") and sha256(bytes(got)) == sha256(big)
    busy.quit()
    wait_until(lambda: len(http_api.get("/sessions")) == 1, what="the closed session to leave")
    (left,) = http_api.get("/sessions")
    assert left["command"] == "CWD sub"
    idle.quit()
    wait_until(lambda: http_api.get("/sessions") == [], what="no sessions")


# --- 20 clients while rules are armed and disarmed every 10 ms


def test_twenty_clients_while_the_api_churns_rules_every_10_ms(server, root, http_api, tmp_path):
    journal_path = tmp_path / "journal.jsonl"
    journal = Journal(server.bus, journal_path).start()
    clients, rounds = 20, 10
    sent: dict[str, bytes] = {}
    seen: list[tuple[str, str, int]] = []  # (path, direction, final code) as ftplib saw it
    failures: list[str] = []
    lock = threading.Lock()

    def client(i: int) -> None:
        try:
            ftp = connect(server)
            for j in range(rounds):
                name = f"c{i:02d}-{j}.bin"
                data = payload(8_000 + 1_009 * i + 97 * j, seed=100 * i + j)
                with lock:
                    sent[name] = data
                up = store(ftp, name, data)  # NOOP -> 200 after each transfer
                down, got = fetch(ftp, name)
                assert up in (226, 451, 450) and down in (226, 426), (name, up, down)
                assert sha256(got) == sha256(data), name
                with lock:
                    seen.extend([(f"/{name}", "upload", up), (f"/{name}", "download", down)])
            ftp.quit()
        except BaseException as err:  # noqa: BLE001 - reported by the test
            failures.append(f"client {i}: {err!r}")

    stop = threading.Event()
    calls: list[tuple[str, int, float]] = []
    specs = ["upload=451", "download=426", "upload=450,every=2", "download=426,path=c1*"]

    def churn() -> None:
        rule_id, tick = None, 0
        reads = ["/rules", "/sessions", "/events?since=0"]
        try:
            while not stop.wait(0.01):  # the pace: a change every 10 ms
                step = tick % 5
                if step == 0:
                    method, path, body = "POST", "/rules", {"spec": specs[tick // 5 % len(specs)]}
                elif step in (1, 2):
                    method, path, body = "PATCH", f"/rules/{rule_id}", {"enabled": step == 2}
                elif step == 3:
                    method, path, body = "GET", reads[tick // 5 % len(reads)], None
                else:
                    method, path, body = "DELETE", "/rules" if tick % 15 == 4 else f"/rules/{rule_id}", None
                start = time.monotonic()
                resp = http_api.call(method, path, body)
                calls.append((f"{method} {path}", resp.status, time.monotonic() - start))
                if step == 0 and resp.status == 201:
                    rule_id = resp.json["id"]
                tick += 1
        except BaseException as err:  # noqa: BLE001 - reported by the test
            failures.append(f"API client: {err!r}")

    churner = threading.Thread(target=churn, daemon=True)
    churner.start()
    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(DEADLINE * 3)
    stop.set()
    churner.join(DEADLINE)
    assert not any(t.is_alive() for t in threads), "a client hung"
    assert not failures, failures[:3]

    # the API stayed responsive and every call worked (a rule removed by DELETE /rules
    # before its own DELETE is a 404, as it should be)
    assert len(calls) >= 20, len(calls)
    bad = [c for c in calls if c[1] not in (200, 201, 204, 404)]
    assert not bad, bad[:5]
    assert all(status != 404 or path.startswith(("PATCH", "DELETE /rules/")) for path, status, _ in calls)
    assert max(latency for *_, latency in calls) < 2.0
    assert http_api.get("/rules") is not None

    # the server's account matches what the clients saw, transfer by transfer
    wait_until(lambda: len(http_api.get("/sessions")) == 0, what="every session to close")
    events = http_api.get("/events?since=0")
    assert not [e for e in events if e["kind"] == "error"]
    faults = Counter((e["path"], e["point"], e["code"]) for e in events if e["kind"] == "fault")
    assert faults == Counter(s for s in seen if s[2] != 226)
    assert sum(faults.values()) > 0 and len(faults) < len(seen)  # some faults, not all
    transfers = [e for e in events if e["kind"] == "transfer"]
    assert Counter((e["path"], e["direction"], e["code"]) for e in transfers) == Counter(seen)
    for e in transfers:
        assert e["bytes"] == len(sent[e["path"][1:]]), e
    one_final_reply_per_command(events)
    assert sum(1 for e in events if e["kind"] == "session.open") == clients

    # nothing lost on disk
    assert {p.name: sha256(p.read_bytes()) for p in root.iterdir()} == {
        name: sha256(data) for name, data in sent.items()}

    # and the journal is the same story, line for line
    journal_reaches(journal_path, events[-1]["seq"])
    journal.stop()
    assert read_journal(journal_path) == events
    assert journal_path.read_text().endswith("\n")


# --- the console: one board with the API


async def test_console_header_and_panel_follow_the_api(settings):
    from textual.widgets import Switch

    from tui.console.app import FaultConsole

    server = FaultServer(settings)
    control = ControlAPI(server, "127.0.0.1", 0).start()
    client = Http(control.url)
    app = FaultConsole(server, control_url=control.url)

    def row(rule_id: str):
        return next((r for r in app.panel.rows() if r.rule_id == rule_id), None)

    try:
        async with app.run_test(size=(140, 40)) as pilot:
            assert f"control {control.url}" in str(app.query_one("#status").render())

            posted = await asyncio.to_thread(client.post_rule, "cmd:CWD=550,times=3")
            shown = await until(pilot, lambda: (r := row(posted["id"])) and r.is_mounted
                                and r.query_one(Switch).value and r, "the API's rule armed in the panel")
            assert shown.point == "cmd:CWD" and "fired 0 · left 3" in str(shown.query_one(".count").render())
            await until(pilot, lambda: "faults armed 1" in str(app.query_one("#status").render()),
                        "the header's count")

            await asyncio.to_thread(client.call, "PATCH", f"/rules/{posted['id']}", {"enabled": False})
            await until(pilot, lambda: row(posted["id"]).query_one(Switch).value is False,
                        "the panel to show the rule off")

            await pilot.press("u")  # the console arms the upload fault...
            listed = await asyncio.to_thread(client.get, "/rules")
            upload = next(r for r in listed if r["point"] == "upload")
            assert upload["enabled"] is True and upload["code"] == 426  # ...and the API sees it
            assert row(upload["id"]) is not None

            await asyncio.to_thread(client.call, "DELETE", f"/rules/{posted['id']}")
            await until(pilot, lambda: row(posted["id"]) is None, "the deleted rule to leave the panel")
            await asyncio.to_thread(client.call, "DELETE", "/rules")
            await until(pilot, lambda: not any(r.rule_id for r in app.panel.rows()), "an empty board")
            await until(pilot, lambda: "faults armed 0" in str(app.query_one("#status").render()),
                        "the header's count")
    finally:
        control.stop()
        server.stop()


# --- the command line: ftpfault --headless --control --journal, and ftpfault ctl


@pytest.fixture
def headless(headless, tmp_path):
    """``ftpfault --headless`` on a free port, with a control API and a journal."""

    def start(*args: str):
        root, journal = tmp_path / "root", tmp_path / "journal.jsonl"
        server = headless("--port", "0", "--root", str(root), "--control", "0",
                          "--journal", str(journal), *args)
        server.root, server.journal = root, journal
        return server

    return start


def ctl_env(url: str | None = None) -> dict[str, str]:
    env = ftpfault_env()
    env.pop("FTPFAULT_CONTROL", None)
    if url is not None:
        env["FTPFAULT_CONTROL"] = url
    return env


def ctl(*args: str, url: str | None = None, env: dict | None = None,
        command: list[str] | None = None) -> subprocess.CompletedProcess:
    argv = [*(command or [*FTPFAULT, "ctl"]), *(["--control", url] if url else []), *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=DEADLINE,
                          env=env if env is not None else ctl_env(), stdin=subprocess.DEVNULL)


def one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> str:
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert result.stdout == "" and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("ftpfault ctl: error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def test_ctl_and_journal_end_to_end(headless):
    srv = headless()
    url = srv.control
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url)

    armed = ctl("arm", "upload=451:Try later,times=2", url=url)
    assert armed.returncode == 0, armed.stderr
    rule_id = armed.stdout.split()[0]
    assert re.fullmatch(r"r\d+", rule_id) and "armed" in armed.stdout
    assert "upload=451:Try later,times=2" in armed.stdout
    listed = ctl("list", env=ctl_env(url))  # the URL from $FTPFAULT_CONTROL
    assert listed.returncode == 0, listed.stderr
    assert re.fullmatch(rf"{rule_id}\s+armed\s+fired 0 left 2\s+upload=451:Try later,times=2\n",
                        listed.stdout)

    sizes = {"a.bin": 1_000, "b.bin": 20_000, "c.bin": 300_000}
    ftp = srv.ftp()
    codes = {name: store(ftp, name, payload(size, len(name) + size)) for name, size in sizes.items()}
    assert codes == {"a.bin": 451, "b.bin": 451, "c.bin": 226}
    down, got = fetch(ftp, "c.bin")
    assert down == 226 and got == payload(300_000, 5 + 300_000)
    ftp.quit()

    spent = ctl("list", url=url.removeprefix("http://"))  # a bare HOST:PORT works too
    assert spent.returncode == 0 and re.match(rf"{rule_id}\s+spent\s+fired 2 left 0", spent.stdout)

    client = Http(url)
    wait_until(lambda: client.get("/events?kind=session.close"), what="the session to close")
    result = ctl("events", url=url)
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert events == client.get("/events?since=0") and events
    faults = [e for e in events if e["kind"] == "fault"]
    assert [(e["rule"], e["point"], e["code"], e["message"], e["path"]) for e in faults] == [
        (rule_id, "upload", 451, "Try later", "/a.bin"), (rule_id, "upload", 451, "Try later", "/b.bin")]
    transfers = {(e["path"], e["direction"]): (e["bytes"], e["code"])
                 for e in events if e["kind"] == "transfer"}
    assert transfers == {("/a.bin", "upload"): (1_000, 451), ("/b.bin", "upload"): (20_000, 451),
                         ("/c.bin", "upload"): (300_000, 226), ("/c.bin", "download"): (300_000, 226)}
    since = ctl("events", "--since", str(events[-3]["seq"]), url=url)
    assert [json.loads(line) for line in since.stdout.splitlines()] == events[-2:]
    only = ctl("events", "--kind", "fault", url=url)
    assert [json.loads(line) for line in only.stdout.splitlines()] == faults

    # the journal holds the same objects, already (flushed as it goes)
    assert journal_reaches(srv.journal, events[-1]["seq"]) == events

    assert ctl("disarm", rule_id, url=url).returncode == 0
    one_line_error(ctl("disarm", rule_id, url=url), f"no rule '{rule_id}'", "404")
    one_line_error(ctl("arm", "upload=451,tims=1", url=url), "'tims'", "400")
    assert ctl("arm", "download=426", url=url).returncode == 0
    assert ctl("arm", "list=450", url=url).returncode == 0
    assert len(ctl("list", url=url).stdout.splitlines()) == 2
    assert ctl("disarm", "all", url=url).returncode == 0
    assert ctl("list", url=url).stdout == ""
    assert ctl("arm", "upload", url=url).returncode == 0
    reset = ctl("reset", url=url)
    assert (reset.returncode, reset.stdout, reset.stderr) == (0, "", "")
    assert client.get("/rules") == []

    # the installed script, once
    script = Path(sys.executable).with_name("ftpfault")
    installed = ctl("arm", "download=451,times=1", url=url, command=[str(script), "ctl"])
    assert installed.returncode == 0, installed.stderr
    assert "download=451,times=1" in installed.stdout

    srv.wait_line(rf"#1 FAULT upload -> 451 Try later \(STOR /b\.bin, rule {rule_id}\)")
    assert srv.stop() == 0
    assert srv.lines[-1] == "ftpfault: stopped"
    assert "Traceback" not in srv.proc.stderr.read()
    text = srv.journal.read_text(encoding="utf-8")
    assert text.endswith("\n")
    final = [json.loads(line) for line in text.splitlines()]  # valid JSON Lines, every line
    assert final[:len(events)] == events and final == events  # nothing after: no traffic
    for e in final:
        assert EVENT_KEYS <= set(e) and e["kind"] in ALL_KINDS
    assert (srv.root / "a.bin").read_bytes() == payload(1_000, 5 + 1_000)


def test_journal_appends_across_runs(tmp_path, headless):
    first = headless()
    ftp = first.ftp()
    ftp.quit()
    first.wait_line(r"#1 session closed")
    assert first.stop() == 0
    before = read_journal(first.journal)
    assert [e["kind"] for e in before][:2] == ["session.open", "reply"]
    assert before[-1]["kind"] == "session.close"

    second = headless()
    ftp = second.ftp()
    ftp.quit()
    second.wait_line(r"#1 session closed")
    assert second.stop() == 0
    after = read_journal(second.journal)
    assert after[:len(before)] == before and len(after) == 2 * len(before)


def test_ctl_events_follow_prints_new_events_as_they_come(headless):
    srv = headless()
    client = Http(srv.control)
    ftp = srv.ftp()
    ftp.quit()
    last = wait_until(lambda: client.get("/events?kind=session.close"), what="a first session")[-1]["seq"]

    follow = subprocess.Popen([*FTPFAULT, "ctl", "--control", srv.control, "events", "--follow",
                               "--since", str(last)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=ctl_env(), stdin=subprocess.DEVNULL)
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(l) for l in follow.stdout], daemon=True)
    reader.start()
    try:
        ftp = srv.ftp()  # something happens after ctl started
        first = json.loads(lines.get(timeout=DEADLINE))
        assert first["seq"] > last and first["kind"] == "session.open"
        ftp.cwd("/")
        seen = [first]
        end = time.monotonic() + DEADLINE
        while not any(e["kind"] == "command" and e.get("command") == "CWD" for e in seen):
            seen.append(json.loads(lines.get(timeout=max(0.01, end - time.monotonic()))))
        ftp.quit()
        seqs = [e["seq"] for e in seen]
        assert seqs == sorted(set(seqs))
        assert follow.poll() is None  # still following
    finally:
        # SIGTERM, not SIGINT: a shell running the tests in the background (or a CI runner)
        # may have SIGINT ignored, and the child inherits that
        follow.terminate()
        code = follow.wait(DEADLINE)
        reader.join(DEADLINE)
    assert code == -signal.SIGTERM
    assert "Traceback" not in follow.stderr.read()
    follow.stderr.close()


def test_ctl_without_an_api_is_one_line_exit_1(free_port):
    url = f"http://127.0.0.1:{free_port}"
    for args, kwargs in [(("list",), {"url": url}), (("arm", "upload"), {"env": ctl_env(url)}),
                         (("events", "--follow"), {"url": url}), (("disarm", "all"), {"url": url})]:
        one_line_error(ctl(*args, **kwargs), f"no control API at {url}", "--control")


def test_ctl_default_url_is_documented():
    result = ctl("--help")
    assert result.returncode == 0
    assert "FTPFAULT_CONTROL" in result.stdout and "http://127.0.0.1:2122" in result.stdout


def test_ctl_pointed_at_something_that_is_not_the_api(server):
    one_line_error(ctl("list", url=f"http://127.0.0.1:{server.port}"), "not an ftpfault control API")


def test_ctl_pointed_at_an_http_server_that_is_not_the_api(free_port):
    """An HTTP server whose answer is not JSON (a proxy, a web app on that port)."""
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Html(BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"<html>hello</html>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = HTTPServer(("127.0.0.1", 0), Html)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        one_line_error(ctl("list", url=f"http://127.0.0.1:{httpd.server_address[1]}"),
                       "not an ftpfault control API")
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(DEADLINE)


@pytest.mark.parametrize("mode", [["--headless"], []], ids=["headless", "console"])
def test_control_port_in_use_is_one_clear_line(mode, tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run([*FTPFAULT, *mode, "--port", "0", "--root", str(tmp_path),
                                 "--control", str(port)], capture_output=True, text=True,
                                timeout=DEADLINE, env=ftpfault_env(), stdin=subprocess.DEVNULL)
    assert result.returncode == 1, result
    assert result.stdout == ""
    assert result.stderr == (f"ftpfault: error: cannot start the control API on 127.0.0.1:{port}: "
                             "port is already in use\n")


def test_journal_that_cannot_be_written_is_one_clear_line(tmp_path):
    result = subprocess.run([*FTPFAULT, "--headless", "--port", "0", "--root", str(tmp_path / "root"),
                             "--journal", str(tmp_path)], capture_output=True, text=True,
                            timeout=DEADLINE, env=ftpfault_env(), stdin=subprocess.DEVNULL)
    assert result.returncode == 1 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ftpfault: error: cannot write the journal")
    assert str(tmp_path) in lines[0]
