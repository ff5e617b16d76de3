"""The session points: ``login`` (the reply to PASS, with the session going on, or a 421
and a hang-up) and ``data`` (the reply to PASV, EPSV, PORT and EPRT, with no data
connection set up, so the transfer that follows has none to use).

A delayed login is in test_delay.py, a login fault for one user only in test_triggers.py.
"""

from __future__ import annotations

import ftplib
import socket

import pytest

from tests.support.ftp import noop_ok, only_fault
from tests.support.rawftp import RawFTP
from tests.support.servers import DEADLINE, PASSWORD, USER
from tui.engine.points import STANDARD_MESSAGES


def test_login_fault_replies_to_pass_and_the_session_goes_on(server, root, recorder):
    rule = server.board.add("login=530:Try again later,times=1")
    ftp = ftplib.FTP(timeout=DEADLINE)
    ftp.connect("127.0.0.1", server.port)
    with pytest.raises(ftplib.error_perm, match="^530 Try again later$"):
        ftp.login(USER, PASSWORD)
    noop_ok(ftp)
    with pytest.raises(ftplib.error_perm, match="^530 "):  # not logged in
        ftp.voidcmd("PWD")
    assert ftp.login(USER, PASSWORD).startswith("230")  # times=1: the next login works
    assert ftp.pwd() == "/"
    ftp.quit()
    fault = only_fault(recorder)
    assert (fault.rule, fault.point, fault.code, fault.command) == (rule.id, "login", 530, "PASS")
    logins = recorder.wait("login", count=2)
    # the faulted PASS is a failed login (it never reached the authorizer), then the real one
    assert [(e.ok, e.user) for e in logins] == [(False, USER), (True, USER)]
    assert server.board.get(rule.id).enabled is False


def test_login_fault_421_with_drop_hangs_up(server, recorder):
    server.board.add("login=421,drop")
    raw = RawFTP(server.port)
    assert raw.cmd(f"USER {USER}").startswith("331")
    assert raw.cmd(f"PASS {PASSWORD}") == f"421 {STANDARD_MESSAGES[421]}"
    assert raw.file.readline() == b""  # and nothing more: the server closed
    raw.close()
    recorder.wait("session.close")
    (fault,) = recorder.of("fault")
    assert (fault.point, fault.code) == ("login", 421)


@pytest.mark.parametrize("verb", ["PASV", "EPSV", "PORT", "EPRT"])
def test_data_fault_replies_to_every_data_command(server, root, recorder, verb):
    rule = server.board.add("data")  # the default 425
    raw = RawFTP(server.port)
    raw.login()
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    arg = {
        "PASV": "", "EPSV": "",
        "PORT": f"127,0,0,1,{port >> 8},{port & 255}",
        "EPRT": f"|1|127.0.0.1|{port}|",
    }[verb]
    assert raw.cmd(f"{verb} {arg}".rstrip()) == f"425 {STANDARD_MESSAGES[425]}"
    noop_ok(raw)
    # no data connection was set up: a transfer command has nothing to use
    listener.settimeout(0.2)
    with pytest.raises(TimeoutError):
        listener.accept()  # the server never connected (active) ...
    listener.close()
    server.board.update(rule.id, enabled=False)
    assert raw.cmd("PASV").startswith("227")  # ...and disarmed, all is normal again
    noop_ok(raw)
    raw.close()
    fault = only_fault(recorder)
    assert (fault.rule, fault.point, fault.code, fault.command) == (rule.id, "data", 425, verb)


@pytest.mark.parametrize("passive", [True, False], ids=["passive", "active"])
def test_data_fault_seen_by_ftplib(server, ftp, root, passive):
    (root / "f.bin").write_bytes(b"abc")
    server.board.add("data=425:No data for you")
    ftp.set_pasv(passive)
    with pytest.raises(ftplib.error_temp, match="^425 No data for you$"):
        ftp.retrbinary("RETR f.bin", lambda b: None)
    noop_ok(ftp)
