"""The console in a real terminal (tmux): typed keys, the screen as a person reads it."""

from __future__ import annotations

import ftplib
import io
import os
import shutil
import signal
import socket
import subprocess
from dataclasses import replace

import pytest

from tests.support.servers import DEADLINE, PASSWORD, USER, wait_until
from tests.support.tmux import TmuxConsole
from tui.engine.server import FaultServer

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


@pytest.fixture
def console(tmp_path):
    """The console in tmux on a free port (not the Pilot ``console`` of tests/conftest.py)."""
    tmux = TmuxConsole(tmp_path)
    yield tmux
    tmux.close()


def upload(port: int, name: str) -> str:
    ftp = ftplib.FTP(timeout=DEADLINE)
    ftp.connect("127.0.0.1", port)
    ftp.login(USER, PASSWORD)
    try:
        return ftp.storbinary(f"STOR {name}", io.BytesIO(b"z" * 5000))
    except ftplib.error_temp as err:
        assert ftp.voidcmd("NOOP").startswith("200")
        return str(err)
    finally:
        ftp.close()


def test_typed_keys_arm_faults_and_q_quits(console, settings):
    port = console.port
    console.wait_for("u Upload")  # the footer
    console.keys("u")
    screen = console.wait_for("faults armed 1")
    assert "ARMED" in screen
    assert upload(port, "a.bin").startswith("426 ")
    console.wait_for("FAULT upload -> 426")
    console.wait_for("fired 1")
    console.keys("4")
    console.wait_for("451 local error")
    assert upload(port, "b.bin").startswith("451 ")
    console.wait_for("FAULT upload -> 451")
    console.keys("x")
    console.wait_for("faults armed 0")
    assert upload(port, "c.bin").startswith("226")
    console.keys("?")
    console.wait_for("Esc, ? or q closes this help.")
    console.keys("Escape")
    wait_until(lambda: "closes this help" not in console.screen(), what="the help to close")
    console.keys("q")
    assert console.exit_status() == 0
    FaultServer(replace(settings, port=port)).stop()  # the port is free again


def test_sigterm_stops_the_console_and_restores_the_terminal(console):
    console.wait_for("ftp://127.0.0.1:")
    pid = int(subprocess.run(["pgrep", "-f", console.pattern], capture_output=True,
                             text=True, timeout=DEADLINE).stdout.split()[0])
    os.kill(pid, signal.SIGTERM)
    assert console.exit_status() == 0
    wait_until(lambda: "Faults" not in console.screen(), what="the console to leave the screen")


def test_closing_the_terminal_stops_the_console(console, settings):
    """The terminal going away (SIGHUP) stops the server too: no orphan holding the port."""
    port = console.port
    console.close()

    def gone() -> bool:
        found = subprocess.run(["pgrep", "-f", console.pattern], capture_output=True, timeout=DEADLINE)
        return found.returncode == 1

    wait_until(gone, what="the console to exit")
    FaultServer(replace(settings, port=port)).stop()


def test_a_hostile_client_cannot_stop_the_console(console):
    """The one-line attack from the field: a user name that is Textual markup, a terminal
    escape, a path with an action in it. The console shows them and keeps serving."""
    port = console.port
    with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as sock:
        reader = sock.makefile("rb")
        reader.readline()
        for line in (b"USER [/x]", b"PASS [@click=app.quit]q[/]", b"USER \x1b]0;owned\x07[b]x"):
            sock.sendall(line + b"\r\n")
            reader.readline()
    console.wait_for("[/x]")
    console.wait_for("\\x1b]0;owned\\x07[b]x")
    assert upload(port, "after.bin").startswith("226")
    console.keys("q")
    assert console.exit_status() == 0


def test_a_console_stopped_by_an_error_exits_non_zero(tmp_path):
    """A widget that fails to draw ends the console (Textual's rule), never as a success."""
    broken = (
        "import sys\n"
        "from tui import cli\n"
        "from tui.console.widgets.live import SessionTable\n"
        "draw = SessionTable.render_line\n"
        "def broken(self, y):\n"
        "    if self.row_count: raise RuntimeError('a bug in a widget')\n"
        "    return draw(self, y)\n"
        "SessionTable.render_line = broken\n"
        "sys.exit(cli.main(sys.argv[1:]))\n"
    )
    console = TmuxConsole(tmp_path, ("-c", broken))
    try:
        with socket.create_connection(("127.0.0.1", console.port), timeout=DEADLINE) as sock:
            sock.recv(100)
        assert console.exit_status() == 1
    finally:
        console.close()
