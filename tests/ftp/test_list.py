"""Completion faults on listings (``list=CODE``) for LIST, NLST and MLSD: the listing goes
through whole, then the fault's reply; and each completion point faults only its own
transfers (a listing fault spares downloads, a download fault spares uploads and listings).

Start faults on listings are in test_start.py, a throttled listing in test_rate.py.
"""

from __future__ import annotations

import ftplib
import io

import pytest

from tests.support.ftp import noop_ok, only_fault
from tests.support.rawftp import RawFTP, raw_retrieve
from tui.engine.points import STANDARD_MESSAGES


@pytest.mark.parametrize("verb", ["LIST", "NLST", "MLSD"])
def test_list_completion_fault_for_every_listing_verb(server, ftp, root, recorder, verb):
    for name in ("a.txt", "b.bin", "c.iso"):
        (root / name).write_bytes(b"x")
    rule = server.board.add("list=451")
    got: list[str] = []
    with pytest.raises(ftplib.error_temp, match=f"^451 {STANDARD_MESSAGES[451]}$"):
        if verb == "MLSD":
            got = [name for name, _facts in ftp.mlsd()]
        else:
            ftp.retrlines(verb, got.append)
    noop_ok(ftp)
    # the listing itself went through whole before the fault reply
    recorder.wait("transfer")
    if verb == "NLST":
        assert sorted(got) == ["a.txt", "b.bin", "c.iso"]
    elif verb == "LIST":
        assert sorted(line.split()[-1] for line in got) == ["a.txt", "b.bin", "c.iso"]
    fault = only_fault(recorder)
    assert (fault.rule, fault.point, fault.code, fault.command, fault.path) == (
        rule.id, "list", 451, verb, "/")
    # the listing is untouched by the fault, and a raw client sees one final reply
    server.board.update(rule.id, code=450)
    raw = RawFTP(server.port)
    raw.login()
    first, body, final = raw_retrieve(raw, verb)
    assert first[:3] in ("125", "150") and body.count(b"\r\n") == 3
    assert final.startswith("450 ")
    noop_ok(raw)
    raw.close()


def test_completion_faults_stay_at_their_own_point(server, ftp, root):
    server.board.add("list=451")
    server.board.add("upload-start=452")
    (root / "f.bin").write_bytes(b"abc")
    got = bytearray()
    assert ftp.retrbinary("RETR f.bin", got.extend).startswith("226") and got == b"abc"
    with pytest.raises(ftplib.error_temp, match="^451 "):
        ftp.nlst()
    noop_ok(ftp)
    # and a download fault spares uploads and listings
    server.board.clear()
    server.board.add("download=425")
    assert ftp.storbinary("STOR x.bin", io.BytesIO(b"abc")).startswith("226")
    assert sorted(ftp.nlst()) == ["f.bin", "x.bin"]
    with pytest.raises(ftplib.error_temp, match="^425 "):
        ftp.retrbinary("RETR x.bin", lambda b: None)
    noop_ok(ftp)
