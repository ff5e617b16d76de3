"""What Python's ftplib, a real client, makes of the fault replies: a completion fault is
an ``error_temp`` (4xx) or ``error_perm`` (5xx) raised after every byte went through, the
session stays usable, a rule toggled between transfers applies to the next one without
reconnecting, active mode is faulted as passive is, an empty download is faulted once.

The same faults read byte by byte on the control channel are in tests/ftp/ (test_upload.py,
test_download.py); ftplib over FTPS in tests/ftp/test_tls.py.
"""

import ftplib
import io

import pytest

from tests.support.servers import connect, file_sha256, payload, sha256
from tui.engine.points import STANDARD_MESSAGES


@pytest.mark.parametrize("code", [425, 426, 450, 451, 452])
def test_upload_fault_replaces_226_and_keeps_the_bytes(server, ftp, root, recorder, code):
    rule = server.board.add(f"upload={code}")
    data = payload(300_000, seed=code)
    with pytest.raises(ftplib.error_temp) as err:
        ftp.storbinary("STOR up.bin", io.BytesIO(data))
    assert str(err.value) == f"{code} {STANDARD_MESSAGES[code]}"
    assert ftp.voidcmd("NOOP").startswith("200")
    assert file_sha256(root / "up.bin") == sha256(data)
    assert server.board.fired(rule.id) == 1
    (fault,) = recorder.wait("fault")
    assert (fault.point, fault.code, fault.command, fault.path, fault.rule) == (
        "upload", code, "STOR", "/up.bin", rule.id)
    assert fault.session > 0 and fault.time > 0
    (transfer,) = recorder.wait("transfer", direction="upload")
    assert (transfer.code, transfer.bytes) == (code, len(data))


@pytest.mark.parametrize("binary", [True, False], ids=["sendfile", "producer"])
def test_download_fault_after_all_bytes(server, ftp, root, binary):
    data = payload(1_000_000, seed=3) if binary else b"line of text\r\n" * 5000
    (root / "down.bin").write_bytes(data.replace(b"\r\n", b"\n") if not binary else data)
    server.board.add("download=451")
    got = bytearray()
    with pytest.raises(ftplib.error_temp, match="^451 "):
        if binary:
            ftp.retrbinary("RETR down.bin", got.extend)
        else:
            ftp.retrlines("RETR down.bin", lambda line: got.extend(line.encode() + b"\r\n"))
    assert bytes(got) == data
    assert ftp.voidcmd("NOOP").startswith("200")


def test_5xx_fault_is_a_permanent_error_for_the_client(server, ftp):
    server.board.add("upload=552:Quota exceeded")
    with pytest.raises(ftplib.error_perm, match="^552 Quota exceeded$"):
        ftp.storbinary("STOR q.bin", io.BytesIO(b"x" * 10))
    assert ftp.voidcmd("NOOP").startswith("200")


def test_toggling_takes_effect_on_the_next_transfer_without_reconnecting(server, ftp, root):
    data = payload(50_000)
    ftp.storbinary("STOR a.bin", io.BytesIO(data))  # nothing armed: 226
    rule = server.board.add("upload=450")
    with pytest.raises(ftplib.error_temp, match="^450 "):
        ftp.storbinary("STOR b.bin", io.BytesIO(data))
    server.board.update(rule.id, enabled=False)
    assert ftp.storbinary("STOR c.bin", io.BytesIO(data)).startswith("226")
    server.board.update(rule.id, enabled=True, code=426)
    with pytest.raises(ftplib.error_temp, match="^426 "):
        ftp.storbinary("STOR d.bin", io.BytesIO(data))
    server.board.disarm_all()
    assert ftp.retrbinary("RETR d.bin", lambda b: None).startswith("226")
    assert ftp.voidcmd("NOOP").startswith("200")
    for name in "abcd":
        assert file_sha256(root / f"{name}.bin") == sha256(data)


def test_active_mode_transfers_are_faulted_too(server, ftp, root):
    ftp.set_pasv(False)
    server.board.add("upload=451")
    server.board.add("download=426")
    with pytest.raises(ftplib.error_temp, match="^451 "):
        ftp.storbinary("STOR act.bin", io.BytesIO(payload(200_000)))
    got = bytearray()
    with pytest.raises(ftplib.error_temp, match="^426 "):
        ftp.retrbinary("RETR act.bin", got.extend)
    assert bytes(got) == payload(200_000)
    assert ftp.voidcmd("NOOP").startswith("200")


def test_empty_file_download_is_faulted_once(server, root):
    """A 0-byte RETR ends inside sendfile's first call: still one final reply."""
    (root / "empty").write_bytes(b"")
    server.board.add("download=450")
    for passive in (True, False):
        client = connect(server)
        client.set_pasv(passive)
        with pytest.raises(ftplib.error_temp, match="^450 "):
            client.retrbinary("RETR empty", lambda b: None)
        assert client.voidcmd("NOOP").startswith("200")
        client.quit()
