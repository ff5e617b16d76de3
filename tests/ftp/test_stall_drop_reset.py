"""The actions that end or freeze a session: ``stall`` (never answer, and answer nothing
more on that session, while others are served), ``drop`` (the reply, then a hang-up;
421 unless the rule gives a code) and ``reset`` (a TCP reset instead of any reply).

The same over TLS, where a reset must not send a TLS close_notify, is in test_tls.py.
"""

from __future__ import annotations

import ftplib
import io
import time

import pytest

from tests.support.ftp import answered_at_once, noop_ok
from tests.support.rawftp import RawFTP, raw_retrieve, raw_store
from tests.support.servers import connect, file_sha256, payload, sha256
from tui.engine.points import STANDARD_MESSAGES


# --- stall


def test_stalled_command_is_never_answered_and_others_are_served(server, recorder):
    rule = server.board.add("cmd:NOOP,stall")
    raw = RawFTP(server.port)
    raw.login()
    assert raw.cmd("PWD").startswith("257")
    raw.sock.settimeout(0.5)
    began = time.monotonic()
    with pytest.raises(TimeoutError):
        raw.cmd("NOOP")
    assert time.monotonic() - began >= 0.45
    recorder.wait("fault")
    server.board.update(rule.id, enabled=False)
    answered_at_once(server, limit=0.5)
    raw.close()
    recorder.wait("session.close", count=2)
    (fault,) = recorder.of("fault")
    assert (fault.point, fault.code, fault.action) == ("cmd:NOOP", None, "never answer")
    assert server.board.fired(rule.id) == 1


def test_stalled_session_answers_nothing_more(server, recorder):
    server.board.add("cmd:SIZE,stall,times=1")
    raw = RawFTP(server.port)
    raw.login()
    raw.send("SIZE nothing")
    raw.send("NOOP")  # read but never answered either
    raw.sock.settimeout(0.3)
    with pytest.raises(TimeoutError):
        raw.reply()
    raw.close()
    recorder.wait("session.close")
    # other sessions, and the rule's disarming, are unaffected
    client = connect(server)
    with pytest.raises(ftplib.error_perm, match="^550 "):
        client.size("nothing")
    noop_ok(client)
    client.quit()


def test_stalled_upload_completion(server, root, recorder):
    server.board.add("upload,stall")
    data = payload(100_000)
    ftp = connect(server, timeout=0.5)
    try:
        with pytest.raises(TimeoutError):
            ftp.storbinary("STOR up.bin", io.BytesIO(data))
    finally:
        ftp.close()
    assert file_sha256(root / "up.bin") == sha256(data)
    (transfer,) = recorder.wait("transfer")
    assert (transfer.code, transfer.bytes) == (None, len(data))
    assert recorder.wait("fault")[0].action == "never answer"
    answered_at_once(server, limit=0.5)


# --- drop


@pytest.mark.parametrize("spec, code", [("cmd:CWD,drop", 421), ("cmd:CWD=450,drop", 450)])
def test_drop_replies_then_hangs_up(server, root, recorder, spec, code):
    (root / "sub").mkdir()
    server.board.add(spec)
    ftp = connect(server)
    with pytest.raises(ftplib.error_temp, match=f"^{code} "):
        ftp.cwd("sub")
    with pytest.raises(EOFError):  # the server hung up (a NOOP sent now could meet a RST)
        ftp.getline()
    ftp.close()
    recorder.wait("session.close")
    (fault,) = recorder.of("fault")
    assert (fault.point, fault.code) == ("cmd:CWD", code)
    assert fault.action.endswith("hang up")


@pytest.mark.parametrize("direction", ["upload", "download"])
def test_drop_on_completion(server, root, recorder, direction):
    data = payload(300_000, seed=12)
    (root / "d.bin").write_bytes(data)
    server.board.add(f"{direction},drop")
    raw = RawFTP(server.port)
    raw.login()
    raw.cmd("TYPE I")
    if direction == "upload":
        _first, final = raw_store(raw, "u.bin", data)
        assert file_sha256(root / "u.bin") == sha256(data)
    else:
        _first, body, final = raw_retrieve(raw, "RETR d.bin")
        assert body == data
    assert final == f"421 {STANDARD_MESSAGES[421]}"
    assert raw.file.readline() == b""
    raw.close()
    (closed,) = recorder.wait("session.close")
    (transfer,) = recorder.wait("transfer")
    assert (transfer.code, transfer.bytes) == (421, len(data))
    assert transfer.seq < closed.seq  # a transfer is told before its session's end


# --- reset


@pytest.mark.parametrize("spec, line", [
    ("cmd:NOOP,reset,times=1", "NOOP"), ("download-start,reset", "RETR d.bin"),
    ("data,reset", "PASV")])
def test_reset_closes_with_a_tcp_reset(server, root, recorder, spec, line):
    (root / "d.bin").write_bytes(b"abc")
    server.board.add(spec)
    raw = RawFTP(server.port)
    raw.login()
    raw.send(line)
    with pytest.raises(ConnectionResetError):
        raw.reply()
    raw.close()
    recorder.wait("session.close")
    (fault,) = recorder.of("fault")
    assert (fault.code, fault.action) == (None, "TCP reset")
    answered_at_once(server, limit=2.0)


def test_reset_on_upload_completion(server, ftp, root, recorder):
    data = payload(100_000)
    server.board.add("upload,reset")
    with pytest.raises(ConnectionResetError):
        ftp.storbinary("STOR up.bin", io.BytesIO(data))
    ftp.close()
    assert file_sha256(root / "up.bin") == sha256(data)
    (transfer,) = recorder.wait("transfer")
    assert transfer.code is None
    (closed,) = recorder.wait("session.close")
    assert transfer.seq < closed.seq
