"""How rules combine at one reply, on a live server (the law: tui/engine/rules.py). The
first rule that decides the reply (a code, drop, stall, reset, a cut) wins, and the other
deciding rules are not even asked; every shaping rule that fires acts beside it, and
each rule that acted says so in its own fault event (``shaping`` for the shaping ones).

The arithmetic (the longest delay, the slowest rate, the first shape) on a bare board:
tests/engine/test_law.py.
"""

from __future__ import annotations

import ftplib
import io

import pytest

from tests.support.ftp import noop_ok
from tests.support.rawftp import RawFTP, raw_retrieve
from tests.support.servers import payload, serve_file, sha256
from tui.engine.points import STANDARD_MESSAGES


def acted(recorder) -> list[tuple[str, bool]]:
    return [(f.rule, f.shaping) for f in recorder.of("fault")]


def test_a_delay_no_longer_hides_a_code_at_a_completion_point(server, recorder, ftp):
    slow = server.board.add("upload,delay=0.1")
    fail = server.board.add("upload=451")
    with pytest.raises(ftplib.error_temp, match="^451 "):
        ftp.storbinary("STOR up.bin", io.BytesIO(b"x" * 5000))
    noop_ok(ftp)
    recorder.wait("fault", count=2)
    assert sorted(acted(recorder)) == sorted([(slow.id, True), (fail.id, False)])
    assert server.board.fired(slow.id) == server.board.fired(fail.id) == 1


def test_the_first_deciding_rule_wins_and_the_others_are_not_asked(server, recorder, ftp):
    first = server.board.add("upload=451")
    second = server.board.add("upload=452")
    with pytest.raises(ftplib.error_temp, match="^451 "):
        ftp.storbinary("STOR up.bin", io.BytesIO(b"x"))
    noop_ok(ftp)
    assert server.board.stats(second.id).matched == 0
    assert acted(recorder) == [(first.id, False)]


def test_a_rate_and_a_cut_on_one_download(server, recorder, ftp, root):
    """(profiles/slow-and-cut-downloads.toml: both rules act on the same RETR.)"""
    data = serve_file(root, "disk.iso", 300_000, seed=1)
    cut = server.board.add("download=426,after=100000,path=*.iso")
    slow = server.board.add("download,rate=4000000")
    got = bytearray()
    with pytest.raises(ftplib.error_temp, match="^426 "):
        ftp.retrbinary("RETR disk.iso", got.extend)
    assert sha256(got) == sha256(data[:100_000])
    noop_ok(ftp)
    recorder.wait("fault", count=2)
    faults = {f.rule: f for f in recorder.of("fault")}
    assert (faults[slow.id].shaping, faults[cut.id].shaping) == (True, False)
    assert faults[slow.id].transfer == faults[cut.id].transfer > 0  # the same transfer's row
    (transfer,) = recorder.wait("transfer")
    assert (transfer.code, transfer.bytes) == (426, 100_000)


def test_shapes_of_a_shaping_rule_apply_to_the_deciding_reply(server, recorder):
    server.board.add("cmd:PWD=550,multiline")
    server.board.add("any,lf")
    raw = RawFTP(server.port)
    raw.login()
    raw.send("PWD")
    text = STANDARD_MESSAGES[550]
    assert b"".join(raw.wire_until(f"550 {text}\n".encode())) == f"550-{text}\n550 {text}\n".encode()
    raw.close()


def test_a_1xx_start_code_shaped_by_a_command_rule(server, root):
    data = serve_file(root, "f.bin", 2000, seed=2)
    server.board.add("cmd:RETR,multiline")
    server.board.add("download-start=125")
    raw = RawFTP(server.port)
    raw.login()
    first, got, final = raw_retrieve(raw, "RETR f.bin")
    text = STANDARD_MESSAGES[125]
    assert (first, got, final) == (f"125-{text}\n125 {text}", data, "226 Transfer complete.")
    noop_ok(raw)
    raw.close()


def test_shaping_rules_count_on_their_own(server, ftp):
    every = server.board.add("upload,delay=0.01,every=2")
    server.board.add("upload=451,times=1")
    codes = []
    for i in range(4):
        try:
            codes.append(int(ftp.storbinary(f"STOR u{i}", io.BytesIO(payload(100, i)))[:3]))
        except ftplib.error_temp as err:
            codes.append(int(str(err)[:3]))
    assert codes == [451, 226, 226, 226]
    assert (server.board.stats(every.id).matched, server.board.fired(every.id)) == (4, 2)
    noop_ok(ftp)
