"""Completion faults on uploads (``upload=CODE``): the final 226 replaced, every byte kept,
for STOR, APPE and STOU; the fault's reply still comes after a QUIT sent mid-transfer;
and ``keep=no``, which removes what the upload wrote before the reply goes out.

Cut uploads (``after=``) are in test_cut.py, delays in test_delay.py, what ftplib makes of
upload faults in tests/clients/test_ftplib.py.
"""

from __future__ import annotations

import ftplib
import io

import pytest

from tests.support.ftp import noop_ok, only_fault
from tests.support.rawftp import RawFTP, raw_store
from tests.support.servers import file_sha256, payload, sha256
from tui.engine.points import STANDARD_MESSAGES


@pytest.mark.parametrize("verb", ["STOR", "APPE", "STOU"])
def test_upload_completion_fault_for_every_upload_verb(server, root, recorder, verb):
    rule = server.board.add("upload=451:Disk on fire")
    data = payload(200_000, seed=1)
    raw = RawFTP(server.port)
    raw.login()
    raw.cmd("TYPE I")
    first, final = raw_store(raw, "" if verb == "STOU" else "up.bin", data, verb)
    assert first[:3] in ("125", "150"), first
    assert final == "451 Disk on fire"
    noop_ok(raw)
    raw.close()
    (stored,) = list(root.iterdir())
    assert file_sha256(stored) == sha256(data)
    fault = only_fault(recorder)
    assert (fault.rule, fault.point, fault.code, fault.command, fault.path) == (
        rule.id, "upload", 451, verb, f"/{stored.name}")
    (transfer,) = recorder.wait("transfer")
    assert (transfer.code, transfer.bytes, transfer.direction) == (451, len(data), "upload")
    assert server.board.fired(rule.id) == 1


@pytest.mark.parametrize("spec", ["upload=451", "upload=451,delay=0.3", "upload=451,after=500"])
def test_a_quit_during_the_transfer_still_gets_the_fault_reply(server, root, recorder, spec):
    """RFC 959: after QUIT during a transfer the server sends the transfer's reply, then
    closes. The fault's reply replaces the 226 there too: exactly one, then the hang-up."""
    server.board.add(spec)
    raw = RawFTP(server.port)
    raw.login()
    raw.cmd("TYPE I")
    data_sock = raw.transfer("STOR q.bin")
    assert raw.cmd("QUIT").startswith("221 ")  # the transfer has not ended (nor been cut)
    data_sock.sendall(payload(1000))
    data_sock.close()
    assert raw.reply().startswith("451 ")
    assert raw.file.readline() == b""
    raw.close()
    (transfer,) = recorder.wait("transfer")
    assert transfer.code == 451
    recorder.wait("session.close")


# --- keep=no: the upload is removed before the reply goes out


@pytest.mark.parametrize("spec, code", [("upload=451,keep=no", 451), ("upload,keep=no", 426)])
def test_keep_no_removes_the_upload_before_the_reply(server, root, recorder, spec, code):
    data = payload(200_000)
    server.board.add(spec)
    raw = RawFTP(server.port)
    raw.login()
    raw.cmd("TYPE I")
    _first, final = raw_store(raw, "gone.bin", data)
    # the reply is in: the file is already gone
    assert not (root / "gone.bin").exists()
    assert final == f"{code} {STANDARD_MESSAGES[code]}"
    noop_ok(raw)
    raw.close()
    (fault,) = recorder.wait("fault")
    assert fault.action.endswith("remove file")
    (transfer,) = recorder.wait("transfer")
    assert (transfer.code, transfer.bytes) == (code, len(data))
    assert list(root.iterdir()) == []


def test_keep_no_with_a_cut_and_with_stou(server, ftp, root, recorder):
    server.board.add("upload=452,keep=no,after=1000")
    raw = RawFTP(server.port)
    raw.login()
    raw.cmd("TYPE I")
    _first, final = raw_store(raw, "cut.bin", payload(100_000))
    assert final.startswith("452 ")
    assert not (root / "cut.bin").exists()
    noop_ok(raw)
    raw.close()
    (transfer,) = recorder.wait("transfer")
    assert (transfer.code, transfer.bytes) == (452, 1000)
    server.board.clear()
    server.board.add("upload=451,keep=no")
    with pytest.raises(ftplib.error_temp, match="^451 "):
        ftp.storbinary("STOU", io.BytesIO(b"unique"))
    noop_ok(ftp)
    assert list(root.iterdir()) == []


def test_keep_no_on_append_removes_only_what_was_received(server, ftp, root):
    (root / "log.txt").write_bytes(b"old lines\n")
    server.board.add("upload=451,keep=no")
    with pytest.raises(ftplib.error_temp, match="^451 "):
        ftp.storbinary("APPE log.txt", io.BytesIO(b"new line\n"))
    noop_ok(ftp)
    assert (root / "log.txt").read_bytes() == b"old lines\n"


def test_keep_no_on_a_resumed_upload_removes_only_what_was_received(server, ftp, root):
    (root / "part.bin").write_bytes(b"A" * 1000)
    server.board.add("upload=451,keep=no")
    with pytest.raises(ftplib.error_temp, match="^451 "):
        ftp.storbinary("STOR part.bin", io.BytesIO(b"B" * 500), rest=600)
    noop_ok(ftp)
    assert (root / "part.bin").read_bytes() == b"A" * 600
