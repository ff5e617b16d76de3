"""Clients that vanish mid-transfer (control and data sockets closed back to back, with a
FIN or a reset, in either order) and uploads the client resets: the server neither sends
the fault's reply nor counts the rule for a transfer that did not complete, keeps on disk
what arrived, reports it, and serves the next client (where the rule does fire).

Every test looks at both sides: what the client saw (replies, exceptions) and what the
server kept (events, fault counters, files on disk).
"""

from __future__ import annotations

import ftplib
import io
import socket

import pytest

from tests.support.ftp import (
    BIG_DOWNLOAD, add_rule, assert_serves_a_fresh_client, open_transfer, reset_on_close,
    write_big_file,
)
from tests.support.rawftp import RawFTP
from tests.support.servers import connect, file_sha256, payload, sha256


def vanish(raw: RawFTP, data_sock: socket.socket, rst: bool, control_first: bool = True) -> None:
    """Drop the client without a word: close the control and data sockets back to back."""
    socks = [raw.sock, data_sock] if control_first else [data_sock, raw.sock]
    raw.file.close()  # the makefile() reader holds the control socket open otherwise
    for sock in socks:
        if rst:
            reset_on_close(sock)
        sock.close()


@pytest.mark.parametrize("rst", [False, True], ids=["fin", "rst"])
@pytest.mark.parametrize("armed", [False, True], ids=["no-fault", "fault-armed"])
def test_client_vanishing_mid_upload(server, root, recorder, armed, rst):
    rule = add_rule(server, "upload=451", armed)
    data = payload(1_000_000, seed=7)
    half = data[:500_000]
    raw, sid, data_sock = open_transfer(server, recorder, "STOR vanish.bin")
    data_sock.sendall(half)
    # the server has read every byte sent so far: the transfer is open, mid-way
    recorder.wait("transfer.progress", session=sid, bytes=len(half))
    vanish(raw, data_sock, rst=rst, control_first=True)

    recorder.wait("session.close", session=sid)
    (transfer,) = recorder.wait("transfer", session=sid)
    assert transfer.code is None, "a reply was sent for a vanished upload"
    assert (transfer.direction, transfer.bytes) == ("upload", len(half))
    assert server.board.fired(rule.id) == 0
    assert recorder.of("fault") == []
    assert recorder.of("error") == []
    # what arrived is on disk, whole (the file is closed before the transfer event)
    assert (root / "vanish.bin").read_bytes() == half

    # a new client works, and the rule fires for a transfer that does complete
    client = connect(server)
    try:
        if armed:
            with pytest.raises(ftplib.error_temp, match="^451 "):
                client.storbinary("STOR after.bin", io.BytesIO(data))
        else:
            assert client.storbinary("STOR after.bin", io.BytesIO(data)).startswith("226")
        assert client.voidcmd("NOOP").startswith("200")
        client.quit()
    finally:
        client.close()
    assert file_sha256(root / "after.bin") == sha256(data)
    assert server.board.fired(rule.id) == (1 if armed else 0)
    assert recorder.of("error") == []


def test_upload_ended_by_fin_then_client_vanishes(server, root, recorder):
    """A FIN on an upload's data connection *is* its end in FTP stream mode: the server
    cannot tell it from a finished upload, so the fault may fire, but its books agree."""
    rule = server.board.add("upload=451")
    half = payload(500_000, seed=9)
    raw, sid, data_sock = open_transfer(server, recorder, "STOR fin.bin")
    data_sock.sendall(half)
    recorder.wait("transfer.progress", session=sid, bytes=len(half))
    vanish(raw, data_sock, rst=False, control_first=False)

    recorder.wait("session.close", session=sid)
    (transfer,) = recorder.wait("transfer", session=sid)
    faults = recorder.of("fault", session=sid)
    # either the data FIN was seen first (a complete upload, faulted, the reply lost with
    # the client) or the control close was (no reply at all); nothing in between
    assert (transfer.code, server.board.fired(rule.id), len(faults)) in ((451, 1, 1), (0, 0, 0))
    assert transfer.bytes == len(half)
    assert (root / "fin.bin").read_bytes() == half
    assert recorder.of("error") == []
    assert_serves_a_fresh_client(server)


@pytest.mark.parametrize("order", ["control-first", "data-first"])
@pytest.mark.parametrize("rst", [False, True], ids=["fin", "rst"])
@pytest.mark.parametrize("armed", [False, True], ids=["no-fault", "fault-armed"])
def test_client_vanishing_mid_download(server, root, recorder, armed, rst, order):
    rule = add_rule(server, "download=451", armed)
    digest = write_big_file(root / "big.bin")
    raw, sid, data_sock = open_transfer(server, recorder, "RETR big.bin")
    got = 0
    while got < 100_000:
        chunk = data_sock.recv(65536)
        assert chunk, "data connection closed early"
        got += len(chunk)
    vanish(raw, data_sock, rst=rst, control_first=(order == "control-first"))

    recorder.wait("session.close", session=sid)
    (transfer,) = recorder.wait("transfer", session=sid)
    # 0: the control channel was gone first, no reply; 426: pyftpdlib saw the data connection
    # break first and said "426 Transfer aborted" into the dying control connection. Never
    # 226, never the fault: the transfer did not complete.
    assert transfer.code in (None, 426), transfer
    assert transfer.direction == "download" and 0 < transfer.bytes < BIG_DOWNLOAD
    assert server.board.fired(rule.id) == 0
    assert recorder.of("fault") == []
    assert recorder.of("error") == []
    assert file_sha256(root / "big.bin") == digest

    small = payload(100_000, seed=12)
    (root / "small.bin").write_bytes(small)
    client = connect(server)
    try:
        got_small = bytearray()
        if armed:
            with pytest.raises(ftplib.error_temp, match="^451 "):
                client.retrbinary("RETR small.bin", got_small.extend)
        else:
            assert client.retrbinary("RETR small.bin", got_small.extend).startswith("226")
        assert bytes(got_small) == small
        assert client.voidcmd("NOOP").startswith("200")
        client.quit()
    finally:
        client.close()
    assert server.board.fired(rule.id) == (1 if armed else 0)


@pytest.mark.parametrize("armed", [False, True], ids=["no-fault", "fault-armed"])
def test_upload_reset_by_the_client_is_not_a_completed_transfer(server, root, recorder, armed):
    rule = add_rule(server, "upload=451", armed)
    half = payload(500_000, seed=8)
    raw, sid, data_sock = open_transfer(server, recorder, "STOR reset.bin")
    try:
        data_sock.sendall(half)
        recorder.wait("transfer.progress", session=sid, bytes=len(half))
        reset_on_close(data_sock)
        data_sock.close()  # RST on the data connection, the control connection stays
        reply = raw.reply()
        assert raw.cmd("NOOP").startswith("200")  # holds today: one reply, no desync
        assert server.board.fired(rule.id) == 0, f"fault fired on a reset upload ({reply})"
        assert reply.startswith("426 "), f"a reset upload was answered {reply!r}"
    finally:
        raw.close()
