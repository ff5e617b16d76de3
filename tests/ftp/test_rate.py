"""``rate=BYTES_PER_SECOND``: the transfer throttled (downloads, uploads, listings), every
byte intact, the normal reply at the end, other sessions served meanwhile; with a code it
is a completion fault too, with ``after=`` a cut, and the rule fires once, not twice.
"""

from __future__ import annotations

import ftplib
import io
import time

import pytest

from tests.support.ftp import Background, answered_at_once, noop_ok
from tests.support.servers import file_sha256, payload, sha256


def test_throttled_download_while_other_sessions_are_served(server, ftp, root, recorder):
    data = payload(200_000, seed=8)
    (root / "d.bin").write_bytes(data)
    rule = server.board.add("download,rate=200000")  # one second for the whole file
    got = bytearray()
    began = time.monotonic()
    transfer = Background(lambda: ftp.retrbinary("RETR d.bin", got.extend))
    recorder.wait("fault")
    other_done = answered_at_once(server, limit=0.5)
    assert transfer.outcome().startswith("226")
    assert transfer.ended - began >= 0.75
    assert other_done < transfer.ended
    assert bytes(got) == data
    noop_ok(ftp)
    (fault,) = recorder.of("fault")
    assert (fault.rule, fault.point, fault.code, fault.path) == (rule.id, "download", None, "/d.bin")
    (done,) = recorder.wait("transfer")
    assert (done.code, done.bytes) == (226, len(data))


def test_throttled_upload(server, ftp, root, recorder):
    data = payload(150_000, seed=9)
    server.board.add("upload,rate=300000")  # half a second
    began = time.monotonic()
    assert ftp.storbinary("STOR up.bin", io.BytesIO(data)).startswith("226")
    assert time.monotonic() - began >= 0.35
    noop_ok(ftp)
    assert file_sha256(root / "up.bin") == sha256(data)
    (done,) = recorder.wait("transfer")
    assert (done.code, done.bytes) == (226, len(data))


def test_throttled_listing(server, ftp, root):
    for i in range(60):
        (root / f"file_{i:04d}.txt").write_bytes(b"")
    size = 60 * len(b"file_0000.txt\r\n")  # 900 bytes of NLST
    server.board.add(f"list,rate={size * 2}")  # half a second
    began = time.monotonic()
    names = ftp.nlst()
    assert time.monotonic() - began >= 0.35
    assert names == [f"file_{i:04d}.txt" for i in range(60)]
    noop_ok(ftp)


def test_rate_with_a_code_and_a_cut(server, ftp, root, recorder):
    data = payload(100_000, seed=10)
    (root / "d.bin").write_bytes(data)
    rule = server.board.add("download=451,rate=400000,after=50000")
    got = bytearray()
    with pytest.raises(ftplib.error_temp, match="^451 "):
        ftp.retrbinary("RETR d.bin", got.extend)
    assert bytes(got) == data[:50000]
    noop_ok(ftp)
    assert server.board.fired(rule.id) == 1  # fired once, at the start, not again at the cut
    (fault,) = recorder.of("fault")
    assert fault.point == "download"
    (done,) = recorder.wait("transfer")
    assert (done.code, done.bytes) == (451, 50000)


def test_rate_with_a_completion_code(server, ftp, root):
    data = payload(50_000, seed=11)
    (root / "d.bin").write_bytes(data)
    rule = server.board.add("download=450,rate=1000000")
    got = bytearray()
    with pytest.raises(ftplib.error_temp, match="^450 "):
        ftp.retrbinary("RETR d.bin", got.extend)
    assert bytes(got) == data
    noop_ok(ftp)
    assert server.board.fired(rule.id) == 1
