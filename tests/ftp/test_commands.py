"""Command points (``cmd:VERB``): any verb can be answered by a rule instead of running,
and the command then did not run (no directory made, no file removed or renamed, the
working directory unchanged); ``times=1`` lets the next one through. Before login too.
"""

from __future__ import annotations

import ftplib
from pathlib import Path

import pytest

from tests.support.ftp import noop_ok, only_fault
from tests.support.rawftp import RawFTP
from tui.engine.points import STANDARD_MESSAGES


def _setup_cmd_tree(root: Path) -> None:
    (root / "sub").mkdir()
    (root / "emptydir").mkdir()
    (root / "f.bin").write_bytes(b"12345")


# (verb, command line, normal reply prefix, check that the command did not run)
CMD_CASES = [
    ("CWD", "CWD sub", "250", lambda r, raw: raw.cmd("PWD").startswith('257 "/"')),
    ("XCWD", "XCWD sub", "250", lambda r, raw: raw.cmd("PWD").startswith('257 "/"')),
    ("CDUP", "CDUP", "250", lambda r, raw: True),
    ("SIZE", "SIZE f.bin", "213", lambda r, raw: True),
    ("MDTM", "MDTM f.bin", "213", lambda r, raw: True),
    ("MKD", "MKD newdir", "257", lambda r, raw: not (r / "newdir").exists()),
    ("RMD", "RMD emptydir", "250", lambda r, raw: (r / "emptydir").is_dir()),
    ("DELE", "DELE f.bin", "250", lambda r, raw: (r / "f.bin").exists()),
    ("RNFR", "RNFR f.bin", "350", lambda r, raw: raw.cmd("RNTO g.bin").startswith("503")),
    ("PWD", "PWD", "257", lambda r, raw: True),
    ("SYST", "SYST", "215", lambda r, raw: True),
    ("FEAT", "FEAT", "211", lambda r, raw: True),
    ("TYPE", "TYPE I", "200", lambda r, raw: True),
    ("MLST", "MLST f.bin", "250", lambda r, raw: True),
    ("STAT", "STAT", "211", lambda r, raw: True),
    ("STAT", "STAT f.bin", "213", lambda r, raw: True),
    ("HELP", "HELP", "214", lambda r, raw: True),
    ("SITE", "SITE HELP", "214", lambda r, raw: True),
    ("NOOP", "NOOP", "200", lambda r, raw: True),
    ("REST", "REST 10", "350", lambda r, raw: True),
    ("ALLO", "ALLO 100", "202", lambda r, raw: True),
]


@pytest.mark.parametrize(
    "verb, line, normal, not_run", CMD_CASES, ids=[c[1] for c in CMD_CASES])
def test_cmd_fault_for_any_verb(server, root, recorder, verb, line, normal, not_run):
    _setup_cmd_tree(root)
    raw = RawFTP(server.port)
    raw.login()
    assert raw.cmd("TYPE I").startswith("200")  # SIZE and REST want binary
    if verb == "CDUP":
        assert raw.cmd("CWD sub").startswith("250")
    rule = server.board.add(f"cmd:{verb}=553:Not today,times=1")
    assert raw.cmd(line) == "553 Not today"
    if verb != "NOOP":
        noop_ok(raw)
    assert not_run(root, raw)
    if verb == "CDUP":
        assert raw.cmd("PWD").startswith('257 "/sub"')
    # times=1: the same command now runs normally
    assert raw.cmd(line).startswith(normal)
    noop_ok(raw)
    raw.close()
    fault = only_fault(recorder)
    assert (fault.rule, fault.point, fault.code, fault.command) == (
        rule.id, f"cmd:{verb}", 553, line.split()[0] if verb != "SITE" else "SITE HELP")
    assert server.board.stats(rule.id).remaining == 0


def test_cmd_faults_on_rename_and_size_with_ftplib(server, ftp, root, recorder):
    _setup_cmd_tree(root)
    server.board.add("cmd:RNTO=553")
    server.board.add("cmd:SIZE")  # bare: 550
    server.board.add("cmd:MKD=550:No directories here")
    server.board.add("cmd:CWD=550,path=sub")
    with pytest.raises(ftplib.error_perm, match=f"^553 {STANDARD_MESSAGES[553]}$"):
        ftp.rename("f.bin", "g.bin")
    assert (root / "f.bin").exists() and not (root / "g.bin").exists()
    with pytest.raises(ftplib.error_perm, match="^550 "):
        ftp.size("f.bin")
    with pytest.raises(ftplib.error_perm, match="^550 No directories here$"):
        ftp.mkd("made")
    assert not (root / "made").exists()
    with pytest.raises(ftplib.error_perm, match="^550 "):
        ftp.cwd("sub")
    assert ftp.cwd("emptydir").startswith("250")  # the path filter spares it
    noop_ok(ftp)
    faults = recorder.wait("fault", count=4)
    assert [(f.point, f.command, f.path) for f in faults] == [
        ("cmd:RNTO", "RNTO", "/g.bin"), ("cmd:SIZE", "SIZE", "/f.bin"),
        ("cmd:MKD", "MKD", "/made"), ("cmd:CWD", "CWD", "/sub")]


def test_cmd_fault_before_login(server, recorder):
    server.board.add("cmd:USER=421,drop")
    raw = RawFTP(server.port)
    assert raw.cmd("USER someone").startswith("421 ")
    assert raw.file.readline() == b""
    raw.close()
    assert recorder.wait("fault")[0].point == "cmd:USER"
