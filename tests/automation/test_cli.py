"""The command line as a user runs it: a real ``ftpfault`` process. Its help, its errors
(one line, exit 2 for a bad option or profile, exit 1 for a server that cannot start),
the headless log and a clean stop on SIGTERM, SIGINT or SIGHUP, anonymous access, what
the PASV reply says, and a profile's settings with the command line winning.

The ``[server]`` settings themselves are checked in tests/engine/test_settings.py.
"""

from __future__ import annotations

import ftplib
import io
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.ftp import code_of, upload_once
from tests.support.servers import DEADLINE, PASSWORD, USER, run_ftpfault, write_profile
from tui.engine.board import FaultBoard
from tui.engine.points import POINTS
from tui.engine.rules import SECTIONS
from tui.engine.settings import SETTINGS


run = run_ftpfault


@pytest.fixture
def headless(headless):
    """Every server here picks a free port."""
    return lambda *args: headless("--port", "0", *args)


def test_help_explains_every_option():
    result = run("--help")
    assert result.returncode == 0
    for option in SETTINGS.values():  # every setting is a flag (--idle-timeout, ...)
        assert option.flag in result.stdout, option.flag
    for title, options in SECTIONS:  # every point and option of the one table has its row
        assert f"{title}:\n" in result.stdout
        for rule_option in options:
            assert f"  {rule_option.title} " in result.stdout, rule_option.title
    for point in POINTS:
        assert f"  {point} " in result.stdout, point
    for option in ("--host", "--port", "--root", "--user", "--password", "--passive-ports",
                   "--masquerade", "--anonymous", "--fault", "--headless"):
        assert option in result.stdout
    for text in ("upload", "download", "425", "426", "450", "451", "452", "127.0.0.1", "2121", "testuser"):
        assert text in result.stdout
    for command in ("ctl", "report", "replay"):  # the other commands, each with its own help
        assert f"ftpfault {command} --help" in result.stdout
        assert run(command, "--help").returncode == 0


@pytest.mark.parametrize(
    "args, complaint",
    [
        (["--fault", "upload=999"], "999"),
        (["--fault", "upload=abc"], "'abc'"),
        (["--fault", "sideways=426"], "'sideways'"),
        (["--fault", "login=230"], "login=230: login takes 4xx or 5xx"),
        (["--port", "70000"], "70000"),
        (["--passive-ports", "9-2"], "9-2"),
        (["--masquerade", "not-an-ip"], "not-an-ip"),
    ],
)
def test_bad_options_are_one_line_exit_2(args, complaint):
    result = run(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("ftpfault: error:") and complaint in lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("mode", [["--headless"], []], ids=["headless", "console"])
def test_port_in_use_is_one_clear_line(mode, tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run(*mode, "--port", str(port), "--root", str(tmp_path))
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"ftpfault: error: cannot listen on 127.0.0.1:{port}: port {port} is already in use")


def test_root_that_is_a_file_is_one_clear_line(tmp_path):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    result = run("--headless", "--port", "0", "--root", str(not_a_dir))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "is not a directory" in lines[0] and str(not_a_dir) in lines[0]


def test_missing_root_is_created(tmp_path, headless):
    root = tmp_path / "a" / "b"
    server = headless("--root", str(root))
    try:
        assert root.is_dir()
        assert f"root={root}" in server.lines[0]
    finally:
        assert server.stop() == 0


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_headless_logs_faults_and_stops_cleanly(tmp_path, signum, headless):
    server = headless("--root", str(tmp_path), "--fault", "upload=451:Try later")
    assert "faults=upload=451:Try later" in server.lines[0]
    ftp = ftplib.FTP(timeout=DEADLINE)
    ftp.connect("127.0.0.1", server.port)
    ftp.login(USER, PASSWORD)
    with pytest.raises(ftplib.error_temp, match="^451 Try later$"):
        ftp.storbinary("STOR a.txt", io.BytesIO(b"hello"))
    assert ftp.voidcmd("NOOP").startswith("200")
    ftp.quit()
    server.wait_line(r"#1 FAULT upload -> 451 Try later \(STOR /a\.txt, rule r1\)")
    server.wait_line(r"#1 transfer upload /a\.txt 5 B in .* -> 451")
    server.wait_line(r"#1 <- PASS \*+$")
    server.wait_line(r"#1 session closed")
    assert server.stop(signum) == 0
    assert server.lines[-1] == "ftpfault: stopped"
    assert "Traceback" not in server.proc.stderr.read()
    assert (tmp_path / "a.txt").read_bytes() == b"hello"


def test_no_anonymous_login_by_default(tmp_path, headless):
    server = headless("--root", str(tmp_path))
    try:
        ftp = ftplib.FTP(timeout=DEADLINE)
        ftp.connect("127.0.0.1", server.port)
        with pytest.raises(ftplib.error_perm, match="^530"):
            ftp.login()  # anonymous
    finally:
        server.stop()


def test_anonymous_is_read_only(tmp_path, headless):
    (tmp_path / "pub.txt").write_text("public")
    server = headless("--root", str(tmp_path), "--anonymous")
    try:
        ftp = ftplib.FTP(timeout=DEADLINE)
        ftp.connect("127.0.0.1", server.port)
        ftp.login()
        got = bytearray()
        ftp.retrbinary("RETR pub.txt", got.extend)
        assert bytes(got) == b"public"
        with pytest.raises(ftplib.error_perm, match="^550"):
            ftp.storbinary("STOR x.txt", io.BytesIO(b"no"))
        ftp.quit()
    finally:
        server.stop()
    assert not (tmp_path / "x.txt").exists()


def test_masquerade_and_passive_ports_reach_the_pasv_reply(tmp_path, free_port, headless):
    server = headless("--root", str(tmp_path), "--masquerade", "10.1.2.3",
                      "--passive-ports", f"{free_port}-{free_port}")
    try:
        ftp = ftplib.FTP(timeout=DEADLINE)
        ftp.connect("127.0.0.1", server.port)
        ftp.login(USER, PASSWORD)
        reply = ftp.sendcmd("PASV")
        hi, lo = divmod(free_port, 256)
        assert reply.startswith(f"227 Entering passive mode (10,1,2,3,{hi},{lo})")
        ftp.quit()
    finally:
        server.stop()


def test_ftpfault_console_script_is_installed():
    script = Path(sys.executable).with_name("ftpfault")
    assert script.exists()
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=DEADLINE)
    assert result.returncode == 0 and result.stdout.startswith("ftpfault ")


def test_console_without_a_terminal_says_so(tmp_path):
    result = run("--port", "0", "--root", str(tmp_path))  # stdin is /dev/null
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "ftpfault: error: the console needs a terminal; use --headless for a log on stdout")


# --- a profile on the command line


def test_a_bad_profile_on_the_command_line_is_one_line_exit_2(tmp_path):
    path = write_profile(tmp_path / "bad.toml",
                         '[[fault]]\nspec = "upload=451"\n\n[[fault]]\nspec = "download=426,tims=1"\n')
    result = run("--headless", "--port", "0", "--root", str(tmp_path / "root"), "--profile", str(path))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == f"ftpfault: error: {path}: fault #2: unknown option 'tims'\n"
    missing = run("--headless", "--port", "0", "--profile", str(tmp_path / "none.toml"))
    assert (missing.returncode, missing.stderr) == (
        2, f"ftpfault: error: {tmp_path / 'none.toml'}: no such file\n")


def chance_pattern(seed: int, spec: str, n: int) -> list[bool]:
    board = FaultBoard(seed=seed)
    rule = board.add(spec)
    return [board.fire(rule) for _ in range(n)]


def test_headless_profile_settings_with_the_command_line_winning(tmp_path, headless):
    """Port, password and seed given on the command line win; user, root and the rules
    come from the profile."""
    spec, n = "upload=452,chance=0.5", 12
    from_profile, from_cli = chance_pattern(7, spec, n), chance_pattern(8, spec, n)
    assert from_profile != from_cli  # the seeds tell apart
    with socket.socket() as busy:  # the profile's port is taken: only --port 0 can start
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        root = tmp_path / "profile-root"
        path = write_profile(tmp_path / "srv.toml", f'''
[server]
port = {busy.getsockname()[1]}
user = "alice"
password = "from-profile"
root = "{root}"
seed = 7

[[fault]]
spec = "{spec}"
''')
        server = headless("--profile", str(path), "--port", "0", "--password", "from-cli",
                          "--seed", "8")
    assert f"root={root} user=alice faults={spec}" in server.banner
    codes = [code_of(upload_once(server.port, f"f{i}.bin", user="alice", password="from-cli"))
             for i in range(n)]
    assert codes == [452 if fired else 226 for fired in from_cli]
    assert sorted(p.name for p in root.iterdir()) == sorted(f"f{i}.bin" for i in range(n))
    assert server.stop() == 0


def test_the_headless_banner_says_chaos_is_on(tmp_path, headless):
    server = headless("--port", "0", "--root", str(tmp_path), "--chaos", "0.3", "--seed", "7")
    assert "faults=none chaos=30% seed 7" in server.banner
    assert server.stop() == 0
