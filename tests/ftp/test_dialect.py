"""The dialect of the server, from the settings table: ``--idle-timeout`` (pyftpdlib's
idle 421, then it hangs up: basic-ftp 171, lftp 444), ``--hide-feat`` (features left out
of FEAT, their commands answered 500, as an older server would) and ``--list-format dos``
(IIS-style LIST lines, and SYST says Windows_NT: FluentFTP 649, aioftp 82).
"""

from __future__ import annotations

import ftplib
import re

import pytest

from tests.support.ftp import noop_ok
from tests.support.rawftp import RawFTP
from tests.support.servers import Recorder, connect
from tui.engine.server import FaultServer

DOS_LINE = re.compile(r"^\d\d-\d\d-\d\d  \d\d:\d\d[AP]M( {7}<DIR> {9}| +\d+) (.+)$")


@pytest.fixture
def serve(settings):
    """A server with some settings changed; stopped after the test."""
    started: list[FaultServer] = []

    def start(**changes) -> FaultServer:
        server = FaultServer(settings.with_values(changes)).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


# --- --idle-timeout


def test_idle_timeout_says_421_and_hangs_up(serve):
    server = serve(idle_timeout=0.3)
    recorder = Recorder(server.bus)
    ftp = connect(server)
    recorder.wait("session.close")  # idle: the server gave up on it
    with pytest.raises(ftplib.error_temp, match="^421 Control connection timed out.$"):
        ftp.voidcmd("NOOP")  # what the client reads next: the idle 421
    with pytest.raises((EOFError, OSError)):
        ftp.voidcmd("NOOP")
    ftp.close()
    again = connect(server)  # a client that logs in again is served
    noop_ok(again)
    again.quit()


def test_idle_timeout_is_the_default_pyftpdlib_one_unless_set(server):
    assert server._ftpd.handler.timeout == 300


# --- --hide-feat


def feat(raw: RawFTP) -> list[str]:
    return [line.strip() for line in raw.cmd("FEAT").splitlines()[1:-1]]


def test_hidden_features_leave_feat_and_their_commands_answer_500(serve, root):
    (root / "f.bin").write_bytes(b"abc")
    server = serve(hide_feat=frozenset({"EPSV", "MLST", "SIZE", "REST", "UTF8", "TVFS"}))
    raw = RawFTP(server.port)
    raw.login()
    listed = feat(raw)
    assert {line.split(" ")[0] for line in listed} == {"EPRT", "MDTM", "MFMT"}
    for line, verb in (("EPSV", "EPSV"), ("MLSD", "MLSD"), ("MLST f.bin", "MLST"),
                       ("SIZE f.bin", "SIZE"), ("REST 1", "REST")):
        assert raw.cmd(line) == f'500 Command "{verb}" not understood.'
    assert raw.cmd("OPTS UTF8 ON") == '501 Unsupported command "UTF8".'
    assert not raw.cmd("HELP").count(" EPSV ")
    noop_ok(raw)
    raw.close()


def test_ftplib_without_mlsd_and_size(serve, root):
    (root / "f.bin").write_bytes(b"abc")
    server = serve(hide_feat=frozenset({"MLST", "SIZE"}))
    ftp = connect(server)
    with pytest.raises(ftplib.error_perm, match="^500 "):
        list(ftp.mlsd())
    with pytest.raises(ftplib.error_perm, match="^500 "):
        ftp.size("f.bin")
    assert ftp.nlst() == ["f.bin"]  # the older commands still work
    noop_ok(ftp)
    ftp.quit()


def test_nothing_hidden_by_default(server):
    raw = RawFTP(server.port)
    raw.login()
    assert {"EPSV", "MLST", "SIZE", "REST", "UTF8", "TVFS"} <= {
        line.split(" ")[0] for line in feat(raw)}
    raw.close()


# --- --list-format


def test_dos_listing_and_syst(serve, root):
    (root / "sub").mkdir()
    (root / "report.txt").write_bytes(b"x" * 1234)
    server = serve(list_format="dos")
    ftp = connect(server)
    lines: list[str] = []
    ftp.retrlines("LIST", lines.append)
    parsed = {m.group(2): m.group(1).strip() for m in map(DOS_LINE.match, lines)}
    assert parsed == {"report.txt": "1234", "sub": "<DIR>"}, lines
    assert ftp.sendcmd("SYST") == "215 Windows_NT"
    assert sorted(ftp.nlst()) == ["report.txt", "sub"]  # NLST is the same either way
    assert {name for name, facts in ftp.mlsd()} >= {"report.txt", "sub"}
    noop_ok(ftp)
    ftp.quit()


def test_unix_listing_by_default(server, ftp, root):
    (root / "report.txt").write_bytes(b"x")
    lines: list[str] = []
    ftp.retrlines("LIST", lines.append)
    assert lines[0].startswith("-rw") and lines[0].endswith(" report.txt")
    assert ftp.sendcmd("SYST") == "215 UNIX Type: L8"


def test_the_settings_reach_the_server_from_the_command_line(tmp_path, headless):
    server = headless("--port", "0", "--root", str(tmp_path), "--list-format", "dos",
                      "--hide-feat", "epsv,mlst", "--idle-timeout", "60")
    ftp = server.ftp()
    assert ftp.sendcmd("SYST") == "215 Windows_NT"
    with pytest.raises(ftplib.error_perm, match='^500 Command "EPSV" not understood.$'):
        ftp.sendcmd("EPSV")
    ftp.quit()
    assert server.stop() == 0
