"""The Python testing API, ``tui.testing.FaultServer``: a real server with faults in a
background thread, for any test suite. Its defaults (a fresh root removed afterwards, a
free port), arming and disarming rules by spec or Rule, what it reports (``fired()``,
``events()`` already complete once a client has its reply), several side by side, and a
server that cannot start leaving nothing behind.

The pytest fixtures built on it are in test_pytest_plugin.py.
"""

from __future__ import annotations

import socket
import tempfile
from pathlib import Path

import pytest

from tests.support.ftp import code_of, final, login, retrieve, store, upload_once
from tests.support.servers import DEADLINE
from tui.engine.rules import Rule, RuleError
from tui.engine.server import ServerError
from tui.testing import FaultServer


def test_fault_server_api(tmp_path):
    root = tmp_path / "served"
    with FaultServer(root=str(root), port=0, faults=["upload=451,times=1"]) as srv:
        assert isinstance(srv.root, Path) and srv.root == root.resolve() and root.is_dir()
        assert srv.host == "127.0.0.1" and srv.port > 0
        assert srv.url == f"ftp://127.0.0.1:{srv.port}/"
        assert (srv.user, srv.password) == ("testuser", "testpass")

        assert code_of(upload_once(srv.port, "a.bin")) == 451
        assert code_of(upload_once(srv.port, "a.bin")) == 226
        (fault,) = srv.fired("upload")
        assert (fault.point, fault.code, fault.command, fault.path, fault.rule) == (
            "upload", 451, "STOR", "/a.bin", "r1")
        assert srv.fired() == srv.events("fault") == [fault]
        assert srv.fired("download") == []
        assert [e.code for e in srv.events("transfer")] == [451, 226]
        kinds = {e.kind for e in srv.events()}
        assert {"session.open", "login", "command", "reply", "transfer", "fault"} <= kinds

        rule = srv.arm("download=450:Not now")
        assert isinstance(rule, Rule) and rule.spec == "download=450:Not now" and rule.id
        (srv.root / "f.bin").write_bytes(b"data")
        ftp = login(srv.port)
        assert retrieve(ftp, "f.bin") == ("450 Not now", b"data")
        srv.disarm(rule)
        assert retrieve(ftp, "f.bin")[0].startswith("226")
        srv.arm(Rule("cmd:PWD", code=550))
        srv.arm("cmd:SYST=502")
        assert final(ftp.pwd).startswith("550")
        srv.disarm()  # every rule
        assert srv.board.rules() == []
        assert ftp.pwd() == "/" and ftp.sendcmd("SYST").startswith("215")
        ftp.quit()
        with pytest.raises(RuleError, match="tims"):
            srv.arm("upload=451,tims=1")
        port = srv.port
    with pytest.raises(ConnectionRefusedError):  # stopped on leaving the block
        socket.create_connection(("127.0.0.1", port), timeout=DEADLINE).close()
    assert root.is_dir() and (root / "a.bin").exists()  # a given root stays


def test_events_hold_everything_up_to_the_reply_a_client_just_got():
    """No waiting in tests: once a client has its reply, the events of that exchange (the
    transfer, the reply itself) are in events(), also right after the call returns."""
    with FaultServer(faults=["upload=451,every=2"]) as srv:
        ftp = login(srv.port)
        for n in range(1, 21):
            reply = store(ftp, f"f{n}.bin", b"x" * n)
            transfers = srv.events("transfer")
            assert [(t.path, t.code) for t in transfers[n - 1:]] == [(f"/f{n}.bin", code_of(reply))]
            assert srv.events("reply")[-1].code == code_of(reply)
            assert len(srv.fired()) == n // 2
        ftp.quit()
    assert srv.events("transfer")[-1].path == "/f20.bin"  # and after the server stopped


def test_fault_server_own_root_is_removed_and_servers_run_side_by_side():
    with FaultServer() as one, FaultServer(user="u", password="p", faults=[Rule("upload", 452)]) as two:
        assert one.root != two.root and one.port != two.port
        assert one.root.is_dir() and not any(one.root.iterdir())
        assert code_of(upload_once(one.port, "a.bin")) == 226
        assert code_of(upload_once(two.port, "a.bin", user="u", password="p")) == 452
        assert one.fired() == [] and len(two.fired("upload")) == 1
        roots = one.root, two.root
    assert not any(r.exists() for r in roots)


def test_fault_server_that_cannot_start_leaves_nothing_behind(tmp_path, monkeypatch):
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))  # where its own root would be made
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(ServerError, match="already in use"):
            FaultServer(port=busy.getsockname()[1])
    with pytest.raises(RuleError):
        FaultServer(faults=["upload=999"])
    assert list(temp.iterdir()) == []
