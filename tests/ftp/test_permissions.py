"""The account's permissions: every one pyftpdlib has by default (so what FEAT advertises
works, MFMT and SITE CHMOD included), narrowed with ``--perm`` (or ``perm`` in a
profile's ``[server]``): with ``elr`` the account reads and lists, and every change is a
550. Anonymous logins stay read-only either way (tests/automation/test_cli.py).
"""

from __future__ import annotations

import calendar
import ftplib
import io
import stat

import pytest

from tests.support.ftp import noop_ok
from tests.support.servers import connect, run_ftpfault, write_profile
from tui.engine.server import FaultServer
from tui.engine.settings import ALL_PERMISSIONS, Settings


@pytest.fixture
def files(root):
    (root / "a.bin").write_bytes(b"aaaa")
    (root / "d").mkdir()
    return root


def test_the_default_account_may_do_everything_feat_advertises(server, ftp, files):
    assert server.settings.perm == ALL_PERMISSIONS
    feat = ftp.sendcmd("FEAT")
    assert "MFMT" in feat
    assert ftp.sendcmd("MFMT 20200101000000 a.bin") == "213 Modify=20200101000000; /a.bin."
    assert (files / "a.bin").stat().st_mtime == calendar.timegm((2020, 1, 1, 0, 0, 0))
    assert ftp.sendcmd("MDTM a.bin") == "213 20200101000000"
    assert ftp.sendcmd("SITE CHMOD 640 a.bin").startswith("200")
    assert stat.S_IMODE((files / "a.bin").stat().st_mode) == 0o640
    assert ftp.storbinary("STOR b.bin", io.BytesIO(b"b")).startswith("226")
    assert ftp.storbinary("APPE b.bin", io.BytesIO(b"b")).startswith("226")
    ftp.rename("b.bin", "c.bin")
    ftp.delete("c.bin")
    ftp.mkd("e")
    ftp.rmd("e")
    noop_ok(ftp)
    assert sorted(p.name for p in files.iterdir()) == ["a.bin", "d"]


@pytest.fixture
def read_only(root):
    with FaultServer(Settings(root=root, port=0, passive_ports=None, perm="elr")) as srv:
        yield srv


CHANGES = [
    lambda ftp: ftp.storbinary("STOR new.bin", io.BytesIO(b"new")),
    lambda ftp: ftp.storbinary("APPE a.bin", io.BytesIO(b"more")),
    lambda ftp: ftp.storbinary("STOU", io.BytesIO(b"unique")),
    lambda ftp: ftp.delete("a.bin"),
    lambda ftp: ftp.rename("a.bin", "b.bin"),
    lambda ftp: ftp.mkd("e"),
    lambda ftp: ftp.rmd("d"),
    lambda ftp: ftp.sendcmd("MFMT 20200101000000 a.bin"),
    lambda ftp: ftp.sendcmd("SITE CHMOD 600 a.bin"),
]


@pytest.mark.parametrize("change", CHANGES, ids=["STOR", "APPE", "STOU", "DELE", "RNFR", "MKD", "RMD",
                                                 "MFMT", "SITE CHMOD"])
def test_perm_elr_refuses_every_change_with_550(read_only, files, change):
    before = {p.name: (p.stat().st_mtime, p.stat().st_mode) for p in files.iterdir()}
    ftp = connect(read_only)
    try:
        with pytest.raises(ftplib.error_perm, match="^550 "):
            change(ftp)
        noop_ok(ftp)
        got = bytearray()  # reading and listing still work
        assert ftp.retrbinary("RETR a.bin", got.extend).startswith("226") and got == b"aaaa"
        assert sorted(ftp.nlst()) == ["a.bin", "d"]
        ftp.cwd("d")
    finally:
        ftp.close()
    assert {p.name: (p.stat().st_mtime, p.stat().st_mode) for p in files.iterdir()} == before
    assert (files / "a.bin").read_bytes() == b"aaaa"


def test_perm_on_the_command_line_and_in_a_profile(tmp_path, headless):
    root = tmp_path / "root"
    root.mkdir()
    for args in (["--perm", "elr"],
                 ["--profile", str(write_profile(tmp_path / "p.toml", '[server]\nperm = "elr"\n'))]):
        server = headless("--port", "0", "--root", str(root), *args)
        ftp = server.ftp()
        try:
            with pytest.raises(ftplib.error_perm, match="^550 Not enough privileges"):
                ftp.storbinary("STOR x.bin", io.BytesIO(b"x"))
            noop_ok(ftp)
            ftp.quit()
        finally:
            ftp.close()
        assert server.stop() == 0
    assert list(root.iterdir()) == []


@pytest.mark.parametrize("perm", ["elrX", "", "rw!"])
def test_perm_with_letters_pyftpdlib_does_not_have_is_one_line_exit_2(tmp_path, perm):
    result = run_ftpfault("--headless", "--port", "0", "--root", str(tmp_path), "--perm", perm)
    assert result.returncode == 2 and result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("ftpfault: error: ") and "--perm" in line and ALL_PERMISSIONS in line, line
