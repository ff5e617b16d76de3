"""Completion faults seen by Python's ftplib, a real client over loopback."""

import ftplib
import io

import pytest
from conftest import connect, file_sha256, payload, sha256
from rawftp import RawFTP, read_all

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


def test_appe_and_stou_are_upload_points(server, ftp, root):
    server.board.add("upload=451")
    with pytest.raises(ftplib.error_temp, match="^451 "):
        ftp.storbinary("APPE log.txt", io.BytesIO(b"one\n"))
    with pytest.raises(ftplib.error_temp, match="^451 "):
        ftp.storbinary("STOU", io.BytesIO(b"unique\n"))
    assert (root / "log.txt").read_bytes() == b"one\n"
    assert ftp.voidcmd("NOOP").startswith("200")


def test_download_fault_does_not_touch_uploads_or_listings(server, ftp):
    server.board.add("download=425")
    assert ftp.storbinary("STOR x.bin", io.BytesIO(b"abc")).startswith("226")
    assert ftp.nlst() == ["x.bin"]
    with pytest.raises(ftplib.error_temp, match="^425 "):
        ftp.retrbinary("RETR x.bin", lambda b: None)


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


@pytest.mark.parametrize("direction", ["upload", "download"])
@pytest.mark.parametrize("type_", ["I", "A"])
def test_raw_control_channel_carries_exactly_one_final_reply(server, root, direction, type_):
    """Read the control channel byte for byte: after the fault reply the next thing the
    server says must be the answer to our NOOP, not a stray 226."""
    data = payload(400_000) if type_ == "I" else b"text line\r\n" * 40_000
    (root / "d.bin").write_bytes(data if type_ == "I" else data.replace(b"\r\n", b"\n"))
    server.board.add(f"{direction}=451")
    raw = RawFTP(server.port)
    raw.login()
    assert raw.cmd(f"TYPE {type_}").startswith("200")
    for _ in range(3):
        data_sock = raw.pasv()
        if direction == "upload":
            raw.send("STOR u.bin")
            assert raw.reply()[:3] in ("125", "150")
            data_sock.sendall(data)
            data_sock.close()
        else:
            raw.send("RETR d.bin")
            assert raw.reply()[:3] in ("125", "150")
            assert read_all(data_sock) == data
        assert raw.reply().startswith("451 ")
        assert raw.cmd("NOOP").startswith("200")
    assert raw.cmd("QUIT").startswith("221")
    raw.close()


def test_a_data_connection_that_carried_nothing_is_no_transfer(server, root, recorder):
    """A client that opens the data connection first (as curl does) and then asks for a
    missing file: no phantom transfer event borrowing the previous command's file."""
    (root / "real.bin").write_bytes(b"abc")
    server.board.add("download=451")
    raw = RawFTP(server.port)
    raw.login()
    for name, final in (("real.bin", "451"), ("missing.bin", "550")):
        data_sock = raw.pasv()
        raw.send(f"RETR {name}")
        reply = raw.reply()
        if final == "451":
            assert reply[:3] in ("125", "150")
            assert read_all(data_sock) == b"abc"
            reply = raw.reply()
        assert reply.startswith(final), reply
        data_sock.close()
        assert raw.cmd("NOOP").startswith("200")
    assert raw.cmd("QUIT").startswith("221")
    raw.close()
    recorder.wait("session.close")
    assert [(t.path, t.code) for t in recorder.of("transfer")] == [("/real.bin", 451)]
    assert server.board.fired(server.board.first("download").id) == 1
