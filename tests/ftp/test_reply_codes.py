"""Any reply code where it makes sense: a 1xx at a start point stands in for the 150 and
the transfer goes on; a 2xx at a completion point ends a good transfer with it instead of
226; a 2xx on ``cmd:VERB`` answers the command without running it. A code that makes no
sense on a point is refused when the rule is made (tests/engine/test_grammar.py).

Each with ftplib (what a client makes of it) and the raw client (the bytes it got, the
replies in order), and NOOP -> 200 after each.
"""

from __future__ import annotations

import ftplib
import io

import pytest

from tests.support.ftp import noop_ok, only_fault
from tests.support.rawftp import RawFTP, raw_retrieve, raw_store
from tests.support.servers import payload, serve_file, sha256
from tui.engine.points import STANDARD_MESSAGES


@pytest.mark.parametrize("code", [125, 150])
def test_download_start_1xx_replaces_the_150_and_the_transfer_goes_on(
        server, root, recorder, code):
    data = serve_file(root, "f.bin", 200_000, seed=code)
    rule = server.board.add(f"download-start={code}")
    raw = RawFTP(server.port)
    raw.login()
    assert raw.cmd("TYPE I").startswith("200")
    first, got, final = raw_retrieve(raw, "RETR f.bin")
    assert first == f"{code} {STANDARD_MESSAGES[code]}"
    assert (sha256(got), final) == (sha256(data), "226 Transfer complete.")
    noop_ok(raw)
    raw.close()
    fault = only_fault(recorder, rule=rule.id)
    assert (fault.point, fault.code, fault.shaping) == ("download-start", code, False)
    (transfer,) = recorder.wait("transfer")
    assert (transfer.code, transfer.bytes) == (226, len(data))


def test_ftplib_takes_125_in_place_of_150(server, ftp, root):
    """(jsftp PR 62, node-ftp PR 41: clients that waited for a 150 that never came.)"""
    data = serve_file(root, "f.bin", 100_000, seed=1)
    server.board.add("download-start=125")
    got = bytearray()
    assert ftp.retrbinary("RETR f.bin", got.extend) == "226 Transfer complete."
    assert sha256(got) == sha256(data)
    noop_ok(ftp)
    server.board.add("upload-start=125:Data connection already open; Transfer starting.")
    up = payload(50_000, seed=2)
    assert ftp.storbinary("STOR up.bin", io.BytesIO(up)).startswith("226")
    assert (root / "up.bin").read_bytes() == up
    noop_ok(ftp)


def test_a_1xx_start_fault_leaves_a_failing_command_alone(server, ftp, root, recorder):
    """RETR of a missing file answers 550 before any 150: the 125 has nothing to replace."""
    server.board.add("download-start=125")
    with pytest.raises(ftplib.error_perm, match="^550 "):
        ftp.retrbinary("RETR missing.bin", lambda b: None)
    noop_ok(ftp)


@pytest.mark.parametrize("code", [226, 250])
def test_download_2xx_ends_a_good_transfer(server, ftp, root, recorder, code):
    """(ftp-remote-edit 123: a client that took 250 for a failure.)"""
    data = serve_file(root, "f.bin", 300_000, seed=code)
    rule = server.board.add(f"download={code}")
    got = bytearray()
    assert ftp.retrbinary("RETR f.bin", got.extend) == f"{code} {STANDARD_MESSAGES[code]}"
    assert sha256(got) == sha256(data)
    noop_ok(ftp)
    assert server.board.fired(rule.id) == 1
    (transfer,) = recorder.wait("transfer")
    assert (transfer.code, transfer.bytes) == (code, len(data))


def test_upload_and_list_2xx(server, root, recorder):
    server.board.add("upload=250:File received ok")
    server.board.add("list=250")
    raw = RawFTP(server.port)
    raw.login()
    first, final = raw_store(raw, "up.bin", b"x" * 5000)
    assert (first[:1], final) == ("1", "250 File received ok")
    assert (root / "up.bin").read_bytes() == b"x" * 5000  # a good upload, whatever it says
    first, listing, final = raw_retrieve(raw, "NLST")
    assert (listing, final) == (b"up.bin\r\n", f"250 {STANDARD_MESSAGES[250]}")
    noop_ok(raw)
    raw.close()


def test_cmd_2xx_answers_without_running_the_command(server, ftp, root, recorder):
    (root / "keep.txt").write_bytes(b"k")
    rule = server.board.add("cmd:DELE=250")
    assert ftp.delete("keep.txt").startswith("250 ")
    assert (root / "keep.txt").read_bytes() == b"k"  # said removed, still there
    noop_ok(ftp)
    assert only_fault(recorder).rule == rule.id
    server.board.remove(rule.id)
    server.board.add("cmd:MKD=257:\"/made\" created")
    assert ftp.mkd("made") == "/made"
    assert not (root / "made").exists()
    noop_ok(ftp)
