"""Data connection faults on the ``data`` point: ``address=`` (what PASV announces),
``port=refused``, ``accept=never``, ``accept=close`` and, on plain FTP, ``tls=stall`` (a
connection that is accepted and never spoken on). Over TLS: tests/ftp/test_data_tls.py.

Each leaves the control channel in step: the transfer command that follows a data
connection that never came gets its 150, then one final 425 (after ``DATA_TIMEOUT``, made
short here), and NOOP -> 200. Every connection a test makes is to 127.0.0.0/8.
"""

from __future__ import annotations

import ftplib
import re
import socket

import pytest

from tests.support.ftp import noop_ok, only_fault
from tests.support.rawftp import RawFTP, pasv_port, read_all
from tests.support.servers import DEADLINE, connect, serve_file, sha256
from tui.engine.ftp import control

NO_DATA = "425 Can't open data connection."


@pytest.fixture(autouse=True)
def short_wait(monkeypatch):
    monkeypatch.setattr(control, "DATA_TIMEOUT", 0.3)


def passive(raw: RawFTP, verb: str) -> tuple[str, int]:
    """PASV or EPSV by hand: the reply and the port it announces."""
    reply = raw.cmd(verb)
    port = pasv_port(reply) if verb == "PASV" else int(re.search(r"\|\|\|(\d+)\|", reply).group(1))
    return reply, port


def dial(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)


def gone(sock: socket.socket) -> bool:
    """The server closed or reset the data connection, having sent nothing on it."""
    try:
        return read_all(sock) == b""
    except ConnectionResetError:
        return True


# --- address=


def test_address_is_what_pasv_announces(server, root, raw, recorder):
    data = serve_file(root, "f.bin", 50_000, seed=1)
    rule = server.board.add("data,address=127.0.0.2")
    reply, port = passive(raw, "PASV")
    assert reply.startswith("227 Entering passive mode (127,0,0,2,")
    sock = dial(port)  # the real address, 127.0.0.1, still listens
    raw.send("RETR f.bin")
    assert raw.reply()[:1] == "1"
    assert sha256(read_all(sock)) == sha256(data)
    assert raw.reply() == "226 Transfer complete."
    noop_ok(raw)
    assert only_fault(recorder, rule=rule.id).shaping is True


def test_a_client_that_trusts_the_pasv_address_cannot_connect(server, ftp, root):
    """(FluentFTP 270, 1258; basic-ftp 210.) ftplib ignores the PASV address unless told to
    trust it (trust_server_pasv_ipv4_address): then it dials 127.0.0.2, where nothing
    listens. It never sent the RETR: the session is in step."""
    data = serve_file(root, "f.bin", 50_000, seed=2)
    server.board.add("data,address=127.0.0.2")
    got = bytearray()
    assert ftp.retrbinary("RETR f.bin", got.extend).startswith("226")
    assert sha256(got) == sha256(data)
    ftp.trust_server_pasv_ipv4_address = True
    with pytest.raises(ConnectionRefusedError):
        ftp.retrbinary("RETR f.bin", got.extend)
    noop_ok(ftp)


def test_address_leaves_epsv_and_active_mode_alone(server, ftp, root, raw):
    serve_file(root, "f.bin", 1000, seed=3)
    rule = server.board.add("data,address=127.0.0.2")
    assert passive(raw, "EPSV")[0].startswith("229 ")
    ftp.set_pasv(False)
    assert ftp.retrbinary("RETR f.bin", lambda b: None).startswith("226")
    noop_ok(ftp)
    assert server.board.stats(rule.id).matched == 0  # not even asked


# --- no data connection: port=refused, accept=never|close, tls=stall


def test_port_refused(server, raw):
    server.board.add("data,port=refused")
    for verb in ("PASV", "EPSV"):
        _, port = passive(raw, verb)
        with pytest.raises(ConnectionRefusedError):
            dial(port)
        noop_ok(raw)


def test_port_refused_then_a_transfer_command_gets_its_425(server, root, raw):
    serve_file(root, "f.bin", 1000, seed=4)
    server.board.add("data,port=refused")
    passive(raw, "PASV")
    assert raw.cmd("RETR f.bin").startswith("150 ")
    assert raw.reply() == NO_DATA
    noop_ok(raw)


def test_ftplib_against_a_refused_port(server, ftp, root):
    serve_file(root, "f.bin", 1000, seed=5)
    server.board.add("data,port=refused,times=1")
    with pytest.raises(ConnectionRefusedError):
        ftp.retrbinary("RETR f.bin", lambda b: None)
    noop_ok(ftp)
    assert ftp.retrbinary("RETR f.bin", lambda b: None).startswith("226")  # times=1


@pytest.mark.parametrize("verb", ["PASV", "EPSV"])
@pytest.mark.parametrize("command", ["RETR f.bin", "STOR up.bin", "LIST"])
def test_accept_never(server, root, raw, verb, command):
    """The connect succeeds (into the listener's backlog) and nothing ever comes of it."""
    serve_file(root, "f.bin", 1000, seed=6)
    server.board.add("data,accept=never")
    _, port = passive(raw, verb)
    sock = dial(port)
    assert raw.cmd(command).startswith("150 ")
    assert raw.reply() == NO_DATA
    assert gone(sock)  # the listener closed with the 425: the waiting connection too
    noop_ok(raw)


def test_accept_close(server, root, raw):
    serve_file(root, "f.bin", 1000, seed=7)
    server.board.add("data,accept=close")
    _, port = passive(raw, "EPSV")
    sock = dial(port)
    assert gone(sock)
    assert raw.cmd("RETR f.bin").startswith("150 ")
    assert raw.reply() == NO_DATA
    noop_ok(raw)


def test_ftplib_against_accept_close_gets_a_425(server, ftp, root):
    serve_file(root, "f.bin", 1000, seed=8)
    server.board.add("data,accept=close")
    with pytest.raises(ftplib.error_temp, match=f"^{NO_DATA}$"):
        ftp.retrbinary("RETR f.bin", lambda b: pytest.fail("data came"))
    noop_ok(ftp)


def test_ftplib_against_accept_never_gets_the_425(server, ftp, root):
    """ftplib's connect succeeds; its read of the data ends when the server gives up (at
    its end of file, or in a reset: then the 425 waits on the control connection)."""
    serve_file(root, "f.bin", 1000, seed=9)
    server.board.add("data,accept=never")
    with pytest.raises(ftplib.error_temp, match=f"^{NO_DATA}$"):
        try:
            ftp.retrbinary("RETR f.bin", lambda b: pytest.fail("data came"))
        except ConnectionResetError:
            ftp.getresp()
    noop_ok(ftp)


def test_tls_stall_on_plain_ftp_is_a_silent_connection(server, root, raw):
    serve_file(root, "f.bin", 1000, seed=10)
    server.board.add("data,tls=stall")
    _, port = passive(raw, "PASV")
    sock = dial(port)
    assert raw.cmd("RETR f.bin").startswith("150 ")
    assert raw.reply() == NO_DATA
    assert gone(sock)
    noop_ok(raw)


def test_a_data_connection_that_comes_after_all_is_served(server, root, raw, monkeypatch):
    """address= is not a lost connection: a client dialling the real address late (after
    its RETR) still gets its file, and no 425 follows."""
    monkeypatch.setattr(control, "DATA_TIMEOUT", 2.0)
    data = serve_file(root, "f.bin", 1000, seed=11)
    server.board.add("data,address=127.0.0.2")
    _, port = passive(raw, "PASV")
    assert raw.cmd("RETR f.bin").startswith("150 ")
    assert read_all(dial(port)) == data
    assert raw.reply() == "226 Transfer complete."
    noop_ok(raw)


def test_active_mode_is_left_alone(server, root, ftp):
    serve_file(root, "f.bin", 1000, seed=12)
    rule = server.board.add("data,accept=never")
    ftp.set_pasv(False)
    assert ftp.retrbinary("RETR f.bin", lambda b: None).startswith("226")
    noop_ok(ftp)
    assert server.board.stats(rule.id).matched == 0
    assert connect(server).voidcmd("NOOP").startswith("200")
