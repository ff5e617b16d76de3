"""The control API's rules (``--control``), driven with a real HTTP client (http.client)
while ftplib transfers, against the in-process ``server`` fixture: the API and the board
are one board (a rule posted fires on the next transfer, a rule armed by a script shows
in the API), PATCH changes a rule live without reconnecting, DELETE and reset leave no
rules and no counters; every error is JSON naming the problem, and nothing a client sends
(garbage, a race with the console removing a rule) stops the API or makes it answer 500.

Events and sessions over HTTP are in test_api_events.py, ``ftpfault ctl`` in test_ctl.py.
"""

from __future__ import annotations

import ftplib
import io
import socket
import threading
from collections import Counter

import pytest

from tests.support.control import upload_code
from tests.support.servers import DEADLINE, connect


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
    assert upload_code(ftp, "b.bin", b"b" * 2000) == 226  # times=1: the second upload succeeds
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


def test_a_rule_reads_back_as_it_is_given(server, http_api):
    """The rule's fields are keyed as a rule is posted (for, not the field behind it),
    so a GET can be posted again; a for= rule says how long it has left."""
    posted = http_api.call("POST", "/rules", {"point": "any", "code": 421, "drop": True, "for": 30,
                                              "client": "127.0.0.*"})
    assert posted.status == 201, posted.body
    rule = http_api.get(f"/rules/{posted.json['id']}")
    assert (rule["for"], rule["client"], rule["spec"]) == (30.0, "127.0.0.*",
                                                           "any=421,drop,for=30,client=127.0.0.*")
    assert 0 < rule["expires_in"] <= 30 and "duration" not in rule
    again = {k: v for k, v in rule.items() if k in posted.json and v is not None
             and k not in ("id", "spec", "trigger", "action", "fired", "matched", "remaining",
                           "expires_in", "exhausted")}
    assert http_api.call("POST", "/rules", again).status == 201


def test_patch_enabled_turns_a_fault_off_and_on_live(server, http_api):
    rule = http_api.post_rule("upload=451")
    ftp = connect(server)  # one session throughout: changes apply without reconnecting
    assert upload_code(ftp, "1.bin", b"1") == 451
    resp = http_api.call("PATCH", f"/rules/{rule['id']}", {"enabled": False})
    assert resp.status == 200 and resp.json["enabled"] is False and resp.json["id"] == rule["id"]
    assert upload_code(ftp, "2.bin", b"2") == 226
    assert http_api.call("PATCH", f"/rules/{rule['id']}", {"enabled": True}).json["enabled"] is True
    assert upload_code(ftp, "3.bin", b"3") == 451
    ftp.quit()
    assert http_api.get(f"/rules/{rule['id']}")["fired"] == 2


def test_patch_spec_replaces_the_rule_in_place(server, http_api):
    rule = http_api.post_rule("upload=451")
    ftp = connect(server)
    assert upload_code(ftp, "1.bin", b"1") == 451

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
    assert upload_code(ftp, "3.bin", b"3") == 226
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
    assert upload_code(ftp, "a.bin", b"a") == 451
    resp = http_api.call("DELETE", "/rules")
    assert (resp.status, resp.body) == (204, b"")
    assert http_api.get("/rules") == [] and server.board.rules() == []
    assert upload_code(ftp, "b.bin", b"b") == 226

    again = http_api.post_rule("upload=451")
    assert upload_code(ftp, "c.bin", b"c") == 451
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
    assert upload_code(ftp, "x.bin", b"x") == 451
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

    def add_then_clear(rule, source=""):
        added = real_add(rule, source=source)
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
