"""Events and sessions over the control API: ``GET /events`` holds the same objects as
``FaultServer.events()``, every kind with its fields, paged with ``since=`` without gaps
or duplicates while clients run; ``GET /sessions`` says who is connected and what they do
(and a session hung up after three wrong passwords is not among them);
and 20 clients transferring while the API arms and disarms rules every 10 ms see exactly
what the events, the journal and the files on disk say, transfer by transfer.
"""

from __future__ import annotations

import ftplib
import threading
import time
from collections import Counter

import pytest

from tests.support.control import (
    ALL_KINDS, EVENT_KEYS, download_code, journal_reaches, one_final_reply_per_command,
    read_journal, upload_code,
)
from tests.support.ftp import three_wrong_passwords
from tests.support.servers import DEADLINE, PASSWORD, USER, connect, payload, sha256, wait_until
from tui.engine.ftp.control import FaultFTPHandler
from tui.engine.journal import Journal


def test_every_event_has_its_fields_and_matches_fault_server_events(server, root, http_api):
    (root / "d.bin").write_bytes(payload(70_000))
    http_api.post_rule("upload=451,times=1")
    ftp = connect(server)
    assert upload_code(ftp, "u.bin", payload(30_000, 1)) == 451
    code, data = download_code(ftp, "d.bin")
    assert code == 226 and data == payload(70_000)
    ftp.retrlines("LIST", lambda line: None)
    ftp.quit()
    wait_until(lambda: http_api.get("/events?kind=session.close"), what="session.close")

    events = http_api.get("/events?since=0")
    assert events == [e.to_dict() for e in server.events()]  # the same objects
    assert ALL_KINDS <= {e["kind"] for e in events}
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(set(seqs))  # growing, no duplicates
    assert [e["kind"] for e in events[:2]] == ["run", "rule"]  # what was served, then what armed
    for e in events:
        assert EVENT_KEYS <= set(e), e
        assert isinstance(e["time"], float) and abs(e["time"] - time.time()) < 60
        assert e["session"] == (0 if e["kind"] in ("run", "rule") else 1)
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
    assert upload_code(ftp, "empty.bin", b"") == 226
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
                upload_code(ftp, f"p{n}-{j}.bin", payload(5_000 + j, n))
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


def test_a_session_hung_up_after_three_wrong_passwords_leaves_sessions(server, http_api, monkeypatch):
    """pyftpdlib tells the third failed login after it closed the session: it must not
    bring the session back as a ghost that never leaves."""
    monkeypatch.setattr(FaultFTPHandler, "auth_failed_timeout", 0)  # no 3 s wait per refusal
    stays = connect(server)
    replies = three_wrong_passwords(server.port)
    assert [r[:3] for r in replies] == ["530", "530", "530"] and replies[-1].endswith("Disconnecting.")
    events = wait_until(lambda: (found := http_api.get("/events?kind=login")) and len(found) == 4 and found,
                        what="the three failed logins")
    gone = {e["session"] for e in events if not e["ok"]}
    assert len(gone) == 1
    (left,) = http_api.get("/sessions")  # the ghost is not there, now or later
    assert (left["user"], left["state"]) == (USER, "logged in") and left["id"] not in gone
    closed = http_api.get("/events?kind=session.close")
    assert [e["session"] for e in closed] == list(gone)
    stays.quit()
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
                up = upload_code(ftp, name, data)  # NOOP -> 200 after each transfer
                down, got = download_code(ftp, name)
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

    # and the journal is the same story, line for line (from where it was attached: after
    # the run event, which a server with settings.journal writes first)
    journal_reaches(journal_path, events[-1]["seq"])
    journal.stop()
    assert read_journal(journal_path) == events[1:]
    assert journal_path.read_text().endswith("\n")
