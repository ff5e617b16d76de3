"""--max-sessions and --max-sessions-per-ip: pyftpdlib's limits, counted in sessions.

A session past a limit gets one reply, a 421 that says which limit, and then the end of
the connection. Sessions below the limit are never refused, however many data channels
and passive listeners the others hold (pyftpdlib alone counts those against max_cons).
"""

from __future__ import annotations

import ftplib
import socket

import pytest

from tests.support.servers import DEADLINE, connect, wait_until
from tui.engine.server import FaultServer
from tui.engine.settings import SETTINGS, Settings


def everything_said(server: FaultServer) -> bytes:
    """Connect and read until the server closes: all it says to one more client."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=DEADLINE) as sock:
        received = b""
        while chunk := sock.recv(4096):
            received += chunk
    return received


def limited(root, **limits) -> FaultServer:
    return FaultServer(Settings(root=root, port=0, passive_ports=None, **limits))


def test_one_session_past_max_sessions_gets_one_421(root):
    with limited(root, max_sessions=2) as server:
        first, second = connect(server), connect(server)
        said = everything_said(server)
        assert said == b"421 Too many sessions: this server serves 2 at once. Try again later.\r\n"
        with pytest.raises(ftplib.error_temp, match=r"^421 Too many sessions"):
            ftplib.FTP().connect("127.0.0.1", server.port, timeout=DEADLINE)
        assert first.voidcmd("NOOP").startswith("200")  # those inside go on
        second.quit()

        def admitted() -> bool:
            try:
                with ftplib.FTP() as ftp:
                    return ftp.connect("127.0.0.1", server.port, timeout=DEADLINE).startswith("220")
            except ftplib.error_temp:
                return False

        wait_until(admitted, what="a session once another left")
        first.quit()


def test_transfers_and_passive_listeners_do_not_count_against_the_limit(root):
    """pyftpdlib counts sockets: with two sessions each holding a passive listener (and
    the server's listener and waker) it would refuse the third of max_cons=3."""
    (root / "f.bin").write_bytes(b"y" * 10_000)
    with limited(root, max_sessions=3) as server:
        first, second = connect(server), connect(server)
        first.sendcmd("PASV")
        second.sendcmd("PASV")
        conn = first.transfercmd("RETR f.bin")  # a data channel open too
        third = connect(server)
        assert third.voidcmd("NOOP").startswith("200")
        assert everything_said(server).startswith(b"421 Too many sessions")
        conn.close()
        first.voidresp()
        for ftp in (first, second, third):
            ftp.quit()


def test_max_sessions_per_ip(root):
    with limited(root, max_sessions_per_ip=1) as server:
        ftp = connect(server)
        said = everything_said(server)
        assert said == (b"421 Too many sessions from your address: this server serves 1 per address "
                        b"at once. Try again later.\r\n")
        ftp.quit()


def test_no_limit(root):
    with limited(root, max_sessions=0) as server:
        sessions = [connect(server) for _ in range(5)]
        assert server._ftpd.max_cons == 0 and server._ftpd.max_cons_per_ip == 0
        for ftp in sessions:
            ftp.quit()


def test_the_defaults_are_pyftpdlibs():
    assert Settings().max_sessions == 512 and Settings().max_sessions_per_ip == 0
    assert SETTINGS["max_sessions"].flag == "--max-sessions"
    assert SETTINGS["max_sessions_per_ip"].flag == "--max-sessions-per-ip"


@pytest.mark.parametrize("text", ["-1", "x", "1.5", "1234567890", ""])
def test_a_bad_count_is_refused(text):
    with pytest.raises(ValueError, match="count"):
        SETTINGS["max_sessions"].kind.parse(text)


@pytest.mark.parametrize("value", [-1, True, 1.0, "3", 10**9])
def test_a_bad_count_in_a_profile_is_refused(value):
    with pytest.raises(ValueError, match="count"):
        SETTINGS["max_sessions_per_ip"].kind.load(value)


def test_the_options_reach_the_server(tmp_path, headless):
    server = headless("--port", "0", "--root", str(tmp_path), "--max-sessions", "1")
    first = server.ftp()
    with pytest.raises(ftplib.error_temp, match=r"^421 Too many sessions: this server serves 1 at once"):
        ftplib.FTP().connect("127.0.0.1", server.port, timeout=DEADLINE)
    first.quit()
    assert server.stop() == 0
