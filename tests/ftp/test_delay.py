"""``delay=SECONDS``: the reply (the fault's, or the normal one when the rule has no code)
that much later, while other sessions are answered at once; commands pipelined behind a
delayed one wait and are answered after it, in order. On commands, logins, upload and
download completions, and start points (where a delay without a code runs the command late).
"""

from __future__ import annotations

import ftplib
import io
import time

import pytest

from tests.support.ftp import Background, answered_at_once, noop_ok
from tests.support.rawftp import RawFTP
from tests.support.servers import DEADLINE, PASSWORD, USER, connect, file_sha256, payload, sha256


def test_delayed_command_reply_while_other_sessions_are_served(server, recorder):
    rule = server.board.add("cmd:NOOP,delay=1")
    client = connect(server)
    try:
        began = time.monotonic()
        delayed = Background(lambda: client.voidcmd("NOOP"))
        recorder.wait("fault")  # the server has the NOOP and holds it
        server.board.update(rule.id, enabled=False)  # the other session's NOOP is normal
        other_done = answered_at_once(server, limit=0.5)
        assert delayed.outcome().startswith("200")
        assert delayed.ended - began >= 0.9
        assert other_done < delayed.ended
        noop_ok(client)
    finally:
        client.close()
    (fault,) = recorder.of("fault")
    assert (fault.point, fault.code, fault.action) == ("cmd:NOOP", None, "1 s late, normal reply")


def test_delayed_fault_reply_and_the_command_not_run(server, ftp, root, recorder):
    (root / "sub").mkdir()
    server.board.add("cmd:CWD=550:Later,delay=0.5")
    began = time.monotonic()
    with pytest.raises(ftplib.error_perm, match="^550 Later$"):
        ftp.cwd("sub")
    assert time.monotonic() - began >= 0.45
    assert ftp.pwd() == "/"
    noop_ok(ftp)


@pytest.mark.parametrize("spec", ["cmd:CWD=550,delay=0.5", "cmd:CWD,delay=0.5"])
def test_pipelined_commands_wait_for_a_delayed_reply(server, root, recorder, spec):
    """Commands sent right behind a delayed one are answered after it, in order."""
    (root / "sub").mkdir()
    server.board.add(spec)
    raw = RawFTP(server.port)
    raw.login()
    began = time.monotonic()
    raw.sock.sendall(b"CWD sub\r\nPWD\r\n" + b"A" * 3000 + b"\r\nNOOP\r\n")
    first = raw.reply()
    assert time.monotonic() - began >= 0.45
    if "550" in spec:
        assert first.startswith("550 ")
        assert raw.reply().startswith('257 "/" ')
    else:
        assert first.startswith("250 ")
        assert raw.reply().startswith('257 "/sub" ')
    assert raw.reply() == "500 Command too long."
    assert raw.reply().startswith("200 ")
    noop_ok(raw)
    raw.close()


@pytest.mark.parametrize("code", [None, 451], ids=["normal-reply", "fault-reply"])
def test_delayed_upload_completion(server, ftp, root, recorder, code):
    spec = "upload,delay=0.5" if code is None else f"upload={code},delay=0.5"
    server.board.add(spec)
    data = payload(100_000)
    began = time.monotonic()
    if code is None:
        assert ftp.storbinary("STOR up.bin", io.BytesIO(data)).startswith("226")
    else:
        with pytest.raises(ftplib.error_temp, match=f"^{code} "):
            ftp.storbinary("STOR up.bin", io.BytesIO(data))
    assert time.monotonic() - began >= 0.45
    noop_ok(ftp)
    assert file_sha256(root / "up.bin") == sha256(data)
    (transfer,) = recorder.wait("transfer")
    assert (transfer.code, transfer.bytes) == (code or 226, len(data))


def test_delayed_download_completion_and_start(server, ftp, root):
    data = payload(80_000)
    (root / "d.bin").write_bytes(data)
    rule = server.board.add("download,delay=0.5")
    got = bytearray()
    began = time.monotonic()
    assert ftp.retrbinary("RETR d.bin", got.extend).startswith("226")
    assert time.monotonic() - began >= 0.45 and got == data
    noop_ok(ftp)
    # a start fault can be late too: no data, the reply after the delay
    server.board.replace(rule.id, "download-start=450,delay=0.5")
    began = time.monotonic()
    with pytest.raises(ftplib.error_temp, match="^450 "):
        ftp.retrbinary("RETR d.bin", got.extend)
    assert time.monotonic() - began >= 0.45
    noop_ok(ftp)
    # and without a code the command itself runs late
    server.board.replace(rule.id, "download-start,delay=0.5")
    got.clear()
    began = time.monotonic()
    assert ftp.retrbinary("RETR d.bin", got.extend).startswith("226")
    assert time.monotonic() - began >= 0.45 and got == data
    noop_ok(ftp)


def test_delayed_login(server, recorder):
    server.board.add("login,delay=0.5")
    ftp = ftplib.FTP(timeout=DEADLINE)
    ftp.connect("127.0.0.1", server.port)
    began = time.monotonic()
    assert ftp.login(USER, PASSWORD).startswith("230")
    assert time.monotonic() - began >= 0.45
    noop_ok(ftp)
    ftp.quit()
