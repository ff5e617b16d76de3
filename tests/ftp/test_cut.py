"""``after=BYTES``: the data connection cut after exactly BYTES bytes, downloads and uploads.

A download is cut gracefully (the socket half-closed, the 426 or the rule's reply only
once the client closed its side, or after a grace time), so the client holds exactly the
first BYTES bytes; a transfer of BYTES bytes or fewer is not cut and the rule is not even
counted; a cut rule that does not fire leaves the next rule its turn; ABOR during a cut
still gets one reply per command. Binary (sendfile) and ASCII (producer) mode both.
"""

from __future__ import annotations

import ftplib
import io
import select
import time

import pytest

from tests.support.ftp import lines, noop_ok, only_fault
from tests.support.rawftp import RawFTP, raw_retrieve, raw_store
from tests.support.servers import file_sha256, payload, sha256
from tui.engine.ftp import data as data_channel
from tui.engine.points import STANDARD_MESSAGES


@pytest.mark.parametrize("after", [0, 1000, 100_000, 300_000])
@pytest.mark.parametrize("type_", ["I", "A"], ids=["sendfile", "producer"])
def test_download_cut_after_exactly_n_bytes(server, root, recorder, type_, after):
    text = lines(25_000)  # 1 MB
    (root / "big.txt").write_bytes(text)
    wire = text if type_ == "I" else text.replace(b"\n", b"\r\n")
    rule = server.board.add(f"download,after={after}")
    raw = RawFTP(server.port)
    raw.login()
    raw.cmd(f"TYPE {type_}")
    data_sock = raw.transfer("RETR big.txt")
    body = bytearray()
    while chunk := data_sock.recv(65536):  # EOF: the server half-closed after N bytes
        body += chunk
    assert bytes(body) == wire[:after]
    # graceful: the reply waits until the client closed its side
    readable, _, _ = select.select([raw.sock], [], [], 0.2)
    assert readable == [], "the reply came before the client closed the data connection"
    data_sock.close()
    assert raw.reply() == f"426 {STANDARD_MESSAGES[426]}"
    noop_ok(raw)
    raw.close()
    fault = only_fault(recorder)
    assert (fault.rule, fault.point, fault.code, fault.path, fault.action) == (
        rule.id, "download", 426, "/big.txt", f"cut after {after} B")
    (transfer,) = recorder.wait("transfer")
    assert (transfer.code, transfer.bytes) == (426, after)
    assert server.board.fired(rule.id) == 1


@pytest.mark.parametrize("binary", [True, False], ids=["sendfile", "producer"])
def test_download_cut_with_ftplib(server, ftp, root, binary):
    data = payload(500_000, seed=5)
    (root / "d.bin").write_bytes(data)
    server.board.add("download=451:Cable cut,after=123457")
    got = bytearray()
    with pytest.raises(ftplib.error_temp, match="^451 Cable cut$"):
        if binary:
            ftp.retrbinary("RETR d.bin", got.extend)
        else:
            ftp.voidcmd("TYPE A")
            with ftp.transfercmd("RETR d.bin") as conn:
                while chunk := conn.recv(8192):
                    got += chunk
            ftp.voidresp()
    if binary:
        assert bytes(got) == data[:123457]
    else:
        assert bytes(got) == data.replace(b"\n", b"\r\n")[:123457]
    noop_ok(ftp)


def test_download_cut_replies_after_the_grace_time_if_the_client_keeps_the_socket(
        server, root, recorder, monkeypatch):
    monkeypatch.setattr(data_channel, "CUT_GRACE", 0.4)
    (root / "d.bin").write_bytes(payload(200_000))
    server.board.add("download,after=5000")
    raw = RawFTP(server.port)
    raw.login()
    data_sock = raw.transfer("RETR d.bin")
    body = b""
    while chunk := data_sock.recv(65536):
        body += chunk
    eof = time.monotonic()
    assert body == payload(200_000)[:5000]
    assert raw.reply().startswith("426 ")  # the data socket is still open on our side
    assert time.monotonic() - eof >= 0.3
    noop_ok(raw)
    data_sock.close()
    raw.close()
    (transfer,) = recorder.wait("transfer")
    assert (transfer.code, transfer.bytes) == (426, 5000)


@pytest.mark.parametrize("after", [0, 1000, 100_000])
def test_upload_cut_after_exactly_n_bytes(server, root, recorder, after):
    data = payload(400_000, seed=after)
    rule = server.board.add(f"upload=452,after={after}")
    raw = RawFTP(server.port)
    raw.login()
    raw.cmd("TYPE I")
    first, final = raw_store(raw, "up.bin", data)
    assert first[:3] in ("125", "150")
    assert final == f"452 {STANDARD_MESSAGES[452]}"
    noop_ok(raw)
    raw.close()
    assert (root / "up.bin").read_bytes() == data[:after]
    fault = only_fault(recorder)
    assert (fault.rule, fault.point, fault.code, fault.path, fault.action) == (
        rule.id, "upload", 452, "/up.bin", f"cut after {after} B")
    (transfer,) = recorder.wait("transfer")
    assert (transfer.code, transfer.bytes) == (452, after)


def test_upload_cut_with_ftplib(server, ftp, root):
    data = payload(300_000, seed=2)
    server.board.add("upload,after=70000")
    try:
        ftp.storbinary("STOR up.bin", io.BytesIO(data))
    except ftplib.error_temp as err:
        assert str(err).startswith("426 ")
    except OSError:  # the cut reached us while we were still sending: the reply waits
        with pytest.raises(ftplib.error_temp, match="^426 "):
            ftp.getresp()
    else:
        pytest.fail("the upload was not cut")
    noop_ok(ftp)
    assert (root / "up.bin").read_bytes() == data[:70000]


@pytest.mark.parametrize("size_vs_after", [-1, 0, "empty"], ids=["fewer", "exactly", "empty"])
@pytest.mark.parametrize("type_", ["I", "A"], ids=["sendfile", "producer"])
def test_a_download_of_n_bytes_or_fewer_is_not_cut(server, root, recorder, type_, size_vs_after):
    text = b"" if size_vs_after == "empty" else lines(2000)
    size_vs_after = 0 if size_vs_after == "empty" else size_vs_after
    wire = text if type_ == "I" else text.replace(b"\n", b"\r\n")
    (root / "d.txt").write_bytes(text)
    rule = server.board.add(f"download=451,after={len(wire) - size_vs_after}")
    raw = RawFTP(server.port)
    raw.login()
    raw.cmd(f"TYPE {type_}")
    first, body, final = raw_retrieve(raw, "RETR d.txt")
    assert body == wire
    assert final.startswith("226 ")
    noop_ok(raw)
    raw.close()
    stats = server.board.stats(rule.id)
    assert (stats.fired, stats.matched) == (0, 0)
    assert server.board.get(rule.id).enabled
    (transfer,) = recorder.wait("transfer")
    assert (transfer.code, transfer.bytes) == (226, len(wire))
    assert recorder.of("fault") == []


@pytest.mark.parametrize("size_vs_after", [-1, 0], ids=["fewer", "exactly"])
def test_an_upload_of_n_bytes_or_fewer_is_not_cut(server, ftp, root, recorder, size_vs_after):
    data = payload(150_000, seed=4)
    rule = server.board.add(f"upload=451,after={len(data) - size_vs_after},times=1")
    assert ftp.storbinary("STOR up.bin", io.BytesIO(data)).startswith("226")
    noop_ok(ftp)
    assert file_sha256(root / "up.bin") == sha256(data)
    stats = server.board.stats(rule.id)
    assert (stats.fired, stats.matched, stats.remaining) == (0, 0, 1)
    (transfer,) = recorder.wait("transfer")
    assert (transfer.code, transfer.bytes) == (226, len(data))
    assert recorder.of("fault") == []


def test_cut_with_every_spares_the_transfers_in_between(server, ftp, root):
    data = payload(200_000, seed=6)
    (root / "d.bin").write_bytes(data)
    rule = server.board.add("download,after=1000,every=2")
    outcomes = []
    for _ in range(4):
        got = bytearray()
        try:
            ftp.retrbinary("RETR d.bin", got.extend)
            outcomes.append(len(got))
        except ftplib.error_temp as err:
            assert str(err).startswith("426 ")
            outcomes.append(-len(got))
        noop_ok(ftp)
    assert outcomes == [len(data), -1000, len(data), -1000]
    assert (server.board.stats(rule.id).matched, server.board.fired(rule.id)) == (4, 2)


@pytest.mark.parametrize("binary", [True, False], ids=["sendfile", "producer"])
def test_a_cut_rule_that_does_not_fire_leaves_the_next_one_its_turn(server, ftp, root, binary):
    data = payload(200_000, seed=13)
    (root / "d.bin").write_bytes(data)
    early = server.board.add("download,after=1000,every=2")
    late = server.board.add("download=451,after=5000")
    if not binary:
        ftp.voidcmd("TYPE A")
    outcomes = []
    for _ in range(2):
        got = bytearray()
        with ftp.transfercmd("RETR d.bin") as conn:
            while chunk := conn.recv(65536):
                got += chunk
        try:
            ftp.voidresp()
        except ftplib.error_temp as err:
            outcomes.append((len(got), str(err)[:3]))
        noop_ok(ftp)
    # the first time the early rule is only counted (every=2) and the late one cuts
    assert outcomes == [(5000, "451"), (1000, "426")]
    assert (server.board.stats(early.id).matched, server.board.fired(early.id)) == (2, 1)
    assert server.board.fired(late.id) == 1


def test_an_upload_cut_rule_that_does_not_fire_leaves_the_next_one_its_turn(server, root):
    data = payload(200_000, seed=14)
    server.board.add("upload,after=1000,chance=0.5,path=*.none")  # never a candidate here
    first = server.board.add("upload=451,after=2000,every=2")
    second = server.board.add("upload=452,after=3000")
    raw = RawFTP(server.port)
    raw.login()
    raw.cmd("TYPE I")
    assert raw_store(raw, "u.bin", data)[1].startswith("452 ")
    assert (root / "u.bin").read_bytes() == data[:3000]
    noop_ok(raw)
    assert raw_store(raw, "u.bin", data)[1].startswith("451 ")
    assert (root / "u.bin").read_bytes() == data[:2000]
    noop_ok(raw)
    raw.close()
    assert (server.board.fired(first.id), server.board.fired(second.id)) == (1, 1)


def test_abor_during_a_cut_gets_one_reply_per_command(server, root, recorder):
    (root / "d.bin").write_bytes(payload(100_000))
    server.board.add("download=451,after=1000")
    raw = RawFTP(server.port)
    raw.login()
    raw.cmd("TYPE I")
    data_sock = raw.transfer("RETR d.bin")
    body = b""
    while chunk := data_sock.recv(65536):
        body += chunk
    assert len(body) == 1000
    raw.send("ABOR")  # before closing our side: the cut's reply is not sent yet
    # pyftpdlib answers for the aborted RETR (426) and for ABOR (226), nothing more
    assert raw.reply().startswith("426 ")
    assert raw.reply().startswith("226 ")
    noop_ok(raw)
    data_sock.close()
    raw.close()
    (transfer,) = recorder.wait("transfer")
    assert transfer.bytes == 1000
