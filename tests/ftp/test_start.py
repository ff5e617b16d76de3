"""Start points (``upload-start``, ``download-start``, ``list-start``): a reply instead of
the 150/125, and nothing moves: no file is created or changed, no byte is sent, a data
connection the client opened early is dropped unused, and no transfer is reported.

Passive and active mode both. How a refused RETR uses up a pending REST is pinned in
test_property.py, among the cases the property test found.
"""

from __future__ import annotations

import ftplib
import io

import pytest

from tests.support.ftp import noop_ok, only_fault
from tests.support.rawftp import RawFTP, raw_retrieve, unused_data_connection
from tests.support.servers import payload
from tui.engine.points import STANDARD_MESSAGES


@pytest.mark.parametrize("verb", ["STOR", "APPE", "STOU"])
@pytest.mark.parametrize("code", [425, 450, 452, 550])
def test_upload_start_fault_creates_nothing(server, root, recorder, verb, code):
    (root / "old.txt").write_bytes(b"before")
    rule = server.board.add(f"upload-start={code}")
    raw = RawFTP(server.port)
    raw.login()
    data_sock = raw.pasv()
    raw.send(f"{verb} {'new.bin' if verb == 'STOR' else 'old.txt' if verb == 'APPE' else ''}"
             .rstrip())
    reply = raw.reply()
    assert reply == f"{code} {STANDARD_MESSAGES[code]}"
    # the data connection was dropped unused: EOF, and no reply of its own
    assert unused_data_connection(data_sock) == b""
    noop_ok(raw)
    raw.close()
    assert sorted(p.name for p in root.iterdir()) == ["old.txt"]
    assert (root / "old.txt").read_bytes() == b"before"
    fault = only_fault(recorder)
    assert (fault.rule, fault.point, fault.code, fault.command) == (
        rule.id, "upload-start", code, verb)
    if verb == "STOR":
        assert fault.path == "/new.bin"
    recorder.wait("session.close")
    assert recorder.of("transfer") == []


def test_upload_start_fault_with_ftplib_and_active_mode(server, ftp, root):
    server.board.add("upload-start=452")
    with pytest.raises(ftplib.error_temp, match=f"^452 {STANDARD_MESSAGES[452]}$"):
        ftp.storbinary("STOR p.bin", io.BytesIO(b"abc"))
    noop_ok(ftp)
    ftp.set_pasv(False)
    server.board.replace(server.board.first("upload-start").id, "upload-start=550:No room")
    with pytest.raises(ftplib.error_perm, match="^550 No room$"):
        ftp.storbinary("STOR a.bin", io.BytesIO(b"abc"))
    noop_ok(ftp)
    assert list(root.iterdir()) == []


@pytest.mark.parametrize("passive", [True, False], ids=["passive", "active"])
def test_download_start_fault_sends_no_data(server, ftp, root, recorder, passive):
    (root / "f.bin").write_bytes(payload(100_000))
    rule = server.board.add("download-start=550:Gone fishing")
    ftp.set_pasv(passive)
    got = bytearray()
    with pytest.raises(ftplib.error_perm, match="^550 Gone fishing$"):
        ftp.retrbinary("RETR f.bin", got.extend)
    assert got == b""
    noop_ok(ftp)
    fault = only_fault(recorder)
    assert (fault.rule, fault.point, fault.code, fault.command, fault.path) == (
        rule.id, "download-start", 550, "RETR", "/f.bin")
    # the raw client: no byte on the data connection, no 226 after the fault reply
    raw = RawFTP(server.port)
    raw.login()
    first, body, final = raw_retrieve(raw, "RETR f.bin")
    assert (first, body, final) == ("550 Gone fishing", b"", "")
    noop_ok(raw)
    raw.close()
    assert recorder.of("transfer") == []


@pytest.mark.parametrize("verb", ["LIST", "NLST", "MLSD"])
def test_list_start_fault_sends_no_listing(server, ftp, root, recorder, verb):
    (root / "a.txt").write_bytes(b"x")
    server.board.add("list-start")  # bare: the default 425
    with pytest.raises(ftplib.error_temp, match=f"^425 {STANDARD_MESSAGES[425]}$"):
        if verb == "MLSD":
            list(ftp.mlsd())
        else:
            ftp.retrlines(verb, lambda line: pytest.fail(f"listing line {line!r}"))
    noop_ok(ftp)
    raw = RawFTP(server.port)
    raw.login()
    first, body, final = raw_retrieve(raw, verb)
    assert (first[:4], body, final) == ("425 ", b"", "")
    noop_ok(raw)
    raw.close()
    faults = recorder.wait("fault", count=2)
    assert {(f.point, f.code, f.command) for f in faults} == {("list-start", 425, verb)}
    assert recorder.of("transfer") == []
