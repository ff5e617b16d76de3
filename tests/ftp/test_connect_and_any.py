"""The greeting (``connect``) and every command of a logged-in session (``any``).

``connect=CODE`` refuses a session at the greeting: that reply instead of 220, then the
server hangs up (a busy server's 421, a 530 for an address it does not serve); ``delay``,
``stall``, ``reset`` and the reply shapes act on the 220 itself. ``any`` answers every
command once logged in (an outage, with ``for=``), never the login itself.
"""

from __future__ import annotations

import ftplib
import socket

import pytest

from tests.support.ftp import noop_ok, only_fault
from tests.support.rawftp import RawFTP
from tests.support.servers import DEADLINE, PASSWORD, USER, connect, wait_until
from tui.engine.points import STANDARD_MESSAGES

GREETING = "220 FTP Fault Console ready."


def greet(port: int, source: str = "127.0.0.1", timeout: float = DEADLINE) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=(source, 0))


def read_to_end(sock: socket.socket) -> bytes:
    got = b""
    while chunk := sock.recv(4096):
        got += chunk
    sock.close()
    return got


# --- connect


@pytest.mark.parametrize("code, message", [(421, STANDARD_MESSAGES[421]),
                                           (530, "Not from your address")])
def test_connect_code_refuses_the_session_and_hangs_up(server, recorder, code, message):
    rule = server.board.add(f"connect={code}:{message},times=1")
    assert read_to_end(greet(server.port)) == f"{code} {message}\r\n".encode()
    fault = only_fault(recorder, rule=rule.id)
    assert (fault.point, fault.code, fault.command) == ("connect", code, "")
    ftp = connect(server)  # times=1: the next one is greeted
    noop_ok(ftp)
    ftp.quit()


def test_ftplib_reads_a_421_greeting_as_an_error(server):
    server.board.add("connect=421,times=1")
    ftp = ftplib.FTP(timeout=DEADLINE)
    with pytest.raises(ftplib.error_temp, match="^421 "):
        ftp.connect("127.0.0.1", server.port)
    ftp.close()
    assert ftp.connect("127.0.0.1", server.port) == GREETING


def test_connect_delay_holds_the_greeting_and_what_the_client_sent_meanwhile(server, recorder):
    server.board.add("connect,delay=0.5")
    sock = greet(server.port)
    sock.sendall(f"USER {USER}\r\nPASS {PASSWORD}\r\n".encode())  # before the greeting came
    reader = sock.makefile("rb")
    assert [reader.readline() for _ in range(3)] == [
        f"{GREETING}\r\n".encode(), b"331 Username ok, send password.\r\n",
        b"230 Login successful.\r\n"]
    (fault,) = recorder.wait("fault")
    assert (fault.point, fault.shaping) == ("connect", True)
    sock.close()


def test_connect_stall_never_greets_and_others_are_served(server):
    rule = server.board.add("connect,stall,times=1")
    stalled = greet(server.port, timeout=0.5)
    with pytest.raises(socket.timeout):
        stalled.recv(100)
    ftp = connect(server)  # the server itself goes on
    noop_ok(ftp)
    ftp.quit()
    stalled.close()
    assert server.board.fired(rule.id) == 1


def test_connect_reset(server, recorder):
    """Nothing but a reset (it may even reach the client inside connect())."""
    server.board.add("connect,reset")
    try:
        with greet(server.port) as sock:
            assert sock.recv(100) == b""
    except ConnectionResetError:
        pass
    recorder.wait("session.close")


def test_connect_shapes_the_greeting(server):
    server.board.add("connect,multiline,lf")
    raw = RawFTP(server.port)
    assert raw.greeting == f"220-FTP Fault Console ready.\n{GREETING}"
    raw.login()
    noop_ok(raw)
    raw.close()


def test_connect_for_one_client_address(server):
    """client= picks the address a client comes from (127.0.0.2 is loopback too)."""
    server.board.add("connect=421,client=127.0.0.2")
    assert read_to_end(greet(server.port, source="127.0.0.2")).startswith(b"421 ")
    raw = RawFTP(server.port)  # from 127.0.0.1
    assert raw.greeting == GREETING
    raw.close()


def test_connect_for_one_session(server, recorder):
    server.board.add("connect=421,session=2")
    first = RawFTP(server.port)
    assert first.greeting == GREETING
    assert read_to_end(greet(server.port)).startswith(b"421 ")
    third = RawFTP(server.port)
    assert third.greeting == GREETING
    assert [f.session for f in recorder.of("fault")] == [2]
    first.close()
    third.close()


# --- any


def test_any_answers_every_command_once_logged_in(server, ftp, root):
    (root / "f.bin").write_bytes(b"abc")
    rule = server.board.add("any=550:Out of service")
    for call in (ftp.pwd, lambda: ftp.cwd("/"), lambda: ftp.size("f.bin"),
                 lambda: ftp.retrbinary("RETR f.bin", lambda b: pytest.fail("data moved")),
                 lambda: ftp.voidcmd("NOOP")):
        with pytest.raises(ftplib.error_perm, match="^550 Out of service$"):
            call()
    server.board.remove(rule.id)
    noop_ok(ftp)


def test_any_spares_the_login(server):
    server.board.add("any=421")
    ftp = ftplib.FTP(timeout=DEADLINE)
    ftp.connect("127.0.0.1", server.port)
    assert ftp.login(USER, PASSWORD).startswith("230")  # USER and PASS: not logged in yet
    with pytest.raises(ftplib.error_temp, match="^421 "):
        ftp.voidcmd("NOOP")
    ftp.close()


def test_an_outage_for_some_seconds(server, recorder):
    """any=421,drop,for=S: every command of every session is answered 421 and hung up on,
    until the rule disarms itself; then the server answers again."""
    rule = server.board.add("any=421,drop,for=1")
    raw = RawFTP(server.port)
    raw.login()
    assert raw.cmd("NOOP") == f"421 {STANDARD_MESSAGES[421]}"
    assert raw.file.read() == b""
    raw.close()
    assert server.board.stats(rule.id).expires_in <= 1  # counting down (0: over already)
    wait_until(lambda: not server.board.get(rule.id).enabled, what="the outage to end")
    assert server.board.stats(rule.id).exhausted
    (spent,) = recorder.wait("rule", change="spent")
    assert (spent.rule, spent.enabled) == (rule.id, False)
    ftp = connect(server)
    noop_ok(ftp)
    ftp.quit()
