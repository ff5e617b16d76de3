"""Each function of tui/engine/ftp/internals.py against the installed pyftpdlib, on live sessions.

The fault handlers reach into pyftpdlib's private state (the reply a data channel sends from
``close()``, the REST offset, a QUIT waiting for a transfer, ...) through internals.py
alone. These tests check that each of those names still means what the handlers take it
to mean, by what pyftpdlib does with it: set the REST offset and the next RETR starts
there; clear the pending reply and no 226 is sent. An upgrade of pyftpdlib that renames or
repurposes one fails here, by name, rather than as an odd fault somewhere else.

Everything runs against a real server and real sessions. The handlers are found in the
server's IO loop (``server.ioloop.socket_map``); every look at their state and every change
to it runs on the loop's own thread, between two of its events (see ``Loop``), so nothing
races the loop, and waits poll with a deadline.
"""

from __future__ import annotations

import errno
import os
import select
import socket
import ssl
import sys
from collections.abc import Callable

import pytest
from pyftpdlib.handlers import DTPHandler, FTPHandler

from tests.support.ftp import (
    BIG_DOWNLOAD, login, open_transfer, raw_tls_session, reset_on_close, session_for,
    write_big_file,
)
from tests.support.rawftp import RawFTP, pasv_port, raw_retrieve, read_all
from tests.support.servers import DEADLINE, Recorder, payload, wait_until
from tui.engine.ftp import internals
from tui.engine.ftp.control import FaultDTPHandler
from tui.engine.ftp.data import FaultDTPMixin
from tui.engine.server import FaultServer
from tui.engine.settings import Settings


class Loop:
    """Runs a function on a server's IO loop thread and returns its result (or raises its
    error here). A session of its own sends NOOP, and its NOOP handler runs the function:
    the loop runs one callback at a time, so nothing else touches the handlers meanwhile."""

    def __init__(self, server: FaultServer, recorder: Recorder, monkeypatch) -> None:
        self.raw = RawFTP(server.port)
        self.raw.login()
        self.handler = control_handler(server, recorder, self.raw)  # the helper's own
        self.handler_class = type(self.handler)
        self.monkeypatch = monkeypatch

    def __call__(self, fn: Callable[[], object]):
        outcome: list[tuple[bool, object]] = []
        noop = self.handler_class.ftp_NOOP

        def run_then_noop(handler, line):
            try:
                outcome.append((True, fn()))
            except BaseException as err:  # noqa: BLE001 - raised again on the test's thread
                outcome.append((False, err))
            return noop(handler, line)

        with self.monkeypatch.context() as patch:
            patch.setattr(self.handler_class, "ftp_NOOP", run_then_noop)
            assert self.raw.cmd("NOOP").startswith("200")
        ((ok, value),) = outcome
        if not ok:
            raise value
        return value

    def close(self) -> None:
        self.raw.close()


def control_handler(server: FaultServer, recorder: Recorder, raw: RawFTP) -> FTPHandler:
    """The live FTPHandler serving a raw client, found in the server's IO loop."""
    sid = session_for(recorder, raw.sock)
    return wait_until(
        lambda: next((channel for channel in list(server.ioloop.socket_map.values())
                      if isinstance(channel, FTPHandler) and channel.session_id == sid), None),
        what=f"session {sid}'s handler in the IO loop")


@pytest.fixture
def loop(server, recorder, monkeypatch):
    runner = Loop(server, recorder, monkeypatch)
    yield runner
    runner.close()


@pytest.fixture
def session(server, recorder):
    """A logged-in raw client, in binary mode, and its handler on the server."""
    raw = RawFTP(server.port)
    raw.login()
    assert raw.cmd("TYPE I").startswith("200")
    yield raw, control_handler(server, recorder, raw)
    raw.close()


@pytest.fixture
def data_close(monkeypatch):
    """Calls ``hook(dtp)`` on the loop thread as each data channel starts to close (before
    the fault mixin's close() reads its pending reply), once per channel."""
    hooks: list[Callable[[DTPHandler], None]] = []

    def close(dtp) -> None:
        if not internals.closed(dtp):
            for hook in hooks:
                hook(dtp)
        FaultDTPMixin.close(dtp)

    monkeypatch.setattr(FaultDTPHandler, "close", close)  # a plain FTP server's data channel
    return hooks.append


# --- the data channel (DTPHandler)


def test_handle_read_event_is_handle_read_itself():
    """pyftpdlib binds DTPHandler.handle_read_event to handle_read (a "small speedup"), so
    the loop never looks handle_read up on a subclass: that is why the fault mixin checks
    an upload's cut in handle_read_event, not in handle_read."""
    assert DTPHandler.handle_read_event is DTPHandler.handle_read


def test_pending_reply_is_the_226_a_complete_transfer_gets(server, root, session, data_close):
    """What close() will send: pyftpdlib chose it in handle_close(), after the last byte."""
    raw, _ = session
    seen: list[tuple[str | None, bool, bool]] = []
    data_close(lambda dtp: seen.append(
        (internals.pending_reply(dtp), internals.closed(dtp), internals.started(dtp))))
    data = payload(300_000, seed=1)
    (root / "down.bin").write_bytes(data)

    first, body, final = raw_retrieve(raw, "RETR down.bin")
    assert body == data and final == "226 Transfer complete."
    data_sock = raw.transfer("STOR up.bin")
    data_sock.sendall(data)
    data_sock.close()
    assert raw.reply() == "226 Transfer complete."
    assert (root / "up.bin").read_bytes() == data
    # the channel was still open, data had moved, and the reply was waiting to be sent
    assert seen == [("226 Transfer complete.", False, True)] * 2


def test_set_reply_is_what_close_sends(server, root, session, data_close, recorder):
    raw, _ = session
    data_close(lambda dtp: internals.set_reply(dtp, "250 The test's own reply."))
    (root / "down.bin").write_bytes(b"data")
    _, body, final = raw_retrieve(raw, "RETR down.bin")
    assert (body, final) == (b"data", "250 The test's own reply.")
    assert raw.cmd("NOOP").startswith("200")
    (transfer,) = recorder.wait("transfer")
    assert transfer.code == 250


def test_clear_reply_makes_close_send_nothing(server, root, session, data_close, recorder):
    raw, _ = session
    data_close(internals.clear_reply)
    (root / "down.bin").write_bytes(b"data")
    data_sock = raw.transfer("RETR down.bin")
    assert read_all(data_sock) == b"data"
    # no 226 came after the data: the next reply on the wire is the NOOP's own
    assert raw.cmd("NOOP").startswith("200")
    (transfer,) = recorder.wait("transfer")
    assert transfer.code is None


def test_started_is_false_until_data_moves(server, root, session, loop, data_close):
    raw, handler = session
    at_close: list[bool] = []
    data_close(lambda dtp: at_close.append(internals.started(dtp)))
    (root / "down.bin").write_bytes(b"data")
    data_sock = raw.pasv()  # connected, no transfer command yet
    dtp = wait_until(lambda: loop(lambda: handler.data_channel), what="the data channel")
    assert loop(lambda: internals.started(dtp)) is False
    raw.send("RETR down.bin")
    assert raw.reply()[:3] in ("125", "150")
    assert read_all(data_sock) == b"data" and raw.reply().startswith("226 ")
    assert at_close == [True]


def test_sendfile_offset_grows_during_a_retr(server, root, session, loop, data_close):
    """The file position sendfile() sends from next, and the file it sends: the cut of a
    binary download compares the one with the other's size to see if more is waiting."""
    raw, handler = session
    write_big_file(root / "big.bin")
    at_close: list[int] = []
    data_close(lambda dtp: at_close.append(internals.sendfile_offset(dtp)[0]))
    data_sock = raw.transfer("RETR big.bin")
    dtp = wait_until(lambda: loop(lambda: handler.data_channel), what="the data channel")

    def position() -> tuple[int, int]:
        offset, fd = internals.sendfile_offset(dtp)
        return offset, os.fstat(fd).st_size

    got = 0
    offsets = []
    for target in (100_000, 4_000_000):  # the client reads, the server sends more
        while got < target:
            chunk = data_sock.recv(1 << 20)
            assert chunk, "the download ended early"
            got += len(chunk)
        offset, size = loop(position)
        assert size == BIG_DOWNLOAD and got <= offset < BIG_DOWNLOAD
        offsets.append(offset)
    assert offsets[0] < offsets[1]
    got += len(read_all(data_sock))
    assert got == BIG_DOWNLOAD and raw.reply().startswith("226 ")
    assert at_close == [BIG_DOWNLOAD]  # all of the file was sent from it


def test_disconnected_errnos_name_a_client_reset_seen_in_handle_close(server, recorder,
                                                                      monkeypatch):
    """pyftpdlib calls handle_close() from inside its ``except OSError`` when an upload's
    client resets the connection; the mixin tells that from a finished upload by the
    error's errno."""
    errors: list[BaseException | None] = []

    def handle_close(dtp) -> None:
        errors.append(sys.exc_info()[1])
        FaultDTPMixin.handle_close(dtp)

    monkeypatch.setattr(FaultDTPHandler, "handle_close", handle_close)
    raw, sid, data_sock = open_transfer(server, recorder, "STOR reset.bin")
    data = payload(200_000, seed=2)
    data_sock.sendall(data)
    recorder.wait("transfer.progress", session=sid, bytes=len(data))
    reset_on_close(data_sock)
    data_sock.close()
    assert raw.reply().startswith("426 ")  # the mixin's answer to a reset upload
    raw.close()
    assert errno.ECONNRESET in internals.DISCONNECTED_ERRNOS
    assert any(isinstance(err, OSError) and err.errno in internals.DISCONNECTED_ERRNOS
               for err in errors), errors


# --- either channel (AsyncChat)


def test_closing_after_close_when_done_with_output_waiting(server, session, loop):
    raw, handler = session

    def fill_then_close_when_done() -> tuple[bool, bool]:
        # the client reads nothing: a few MB fill the socket buffers, the rest waits
        for _ in range(256):
            if handler.producer_fifo:
                break
            handler.push("x" * (1 << 20))
        assert handler.producer_fifo, "the output never had to wait"
        handler.close_when_done()
        return internals.closing(handler), internals.closed(handler)

    assert loop(lambda: (internals.closing(handler), internals.closed(handler))) == (False, False)
    assert loop(fill_then_close_when_done) == (True, False)
    reset_on_close(raw.sock)
    raw.close()  # the output can never go: the server closes the session
    wait_until(lambda: loop(lambda: internals.closed(handler)), what="the session to close")


# --- the control channel (FTPHandler)


def test_restart_position_is_the_offset_of_the_last_rest(server, root, session, loop):
    raw, handler = session
    data = payload(1000, seed=3)
    (root / "f.bin").write_bytes(data)
    assert loop(lambda: internals.restart_position(handler)) == 0
    assert raw.cmd("REST 100").startswith("350")
    assert loop(lambda: internals.restart_position(handler)) == 100
    _, body, final = raw_retrieve(raw, "RETR f.bin")
    assert body == data[100:] and final.startswith("226 ")
    assert loop(lambda: internals.restart_position(handler)) == 0  # used up by the RETR


def test_set_restart_position_is_where_the_next_transfer_starts(server, root, session, loop):
    raw, handler = session
    data = payload(1000, seed=4)
    (root / "f.bin").write_bytes(data)
    loop(lambda: internals.set_restart_position(handler, 300))
    assert raw_retrieve(raw, "RETR f.bin")[1] == data[300:]
    # and 0 forgets a REST, as a refused transfer must
    assert raw.cmd("REST 5").startswith("350")
    loop(lambda: internals.set_restart_position(handler, 0))
    assert raw_retrieve(raw, "RETR f.bin")[1] == data


def test_quit_pending_after_a_quit_during_a_transfer(server, recorder, loop):
    raw, sid, data_sock = open_transfer(server, recorder, "STOR q.bin")
    handler = control_handler(server, recorder, raw)
    assert loop(lambda: internals.quit_pending(handler)) is False
    assert raw.cmd("QUIT").startswith("221 ")
    assert loop(lambda: internals.quit_pending(handler)) is True
    data_sock.sendall(b"last bytes")
    data_sock.close()
    assert raw.reply().startswith("226 ")
    assert raw.file.readline() == b""  # the session closed once the transfer ended
    raw.close()
    assert loop(lambda: internals.closed(handler)) is True


def test_set_quit_pending_false_keeps_the_session_after_its_transfer(server, recorder, loop):
    """The mixin clears the flag while the data channel closes, so that pyftpdlib does not
    close the session before the fault's answer went out."""
    raw, sid, data_sock = open_transfer(server, recorder, "STOR q.bin")
    handler = control_handler(server, recorder, raw)
    assert raw.cmd("QUIT").startswith("221 ")
    loop(lambda: internals.set_quit_pending(handler, False))
    data_sock.sendall(b"last bytes")
    data_sock.close()
    assert raw.reply().startswith("226 ")
    recorder.wait("transfer", session=sid)  # emitted after pyftpdlib's own close() ran
    assert loop(lambda: (internals.closed(handler), internals.closing(handler))) == (False, False)
    loop(handler.close)
    assert raw.file.readline() == b""
    raw.close()


def test_line_buffer_holds_a_partial_line_and_set_line_buffer_is_the_line_run(session, loop):
    raw, handler = session
    raw.sock.sendall(b"NO")
    raw.sock.sendall(b"O")
    wait_until(lambda: loop(lambda: (b"".join(internals.line_buffer(handler)[0]),
                                     internals.line_buffer(handler)[1])) == (b"NOO", 3),
               what="the partial line in the handler's buffer")
    # at the line's end pyftpdlib runs what the buffer holds, then empties it
    loop(lambda: internals.set_line_buffer(handler, [b"SY", b"ST"], 4))
    raw.sock.sendall(b"\r\n")
    assert raw.reply().startswith("215 ")
    assert loop(lambda: internals.line_buffer(handler)) == ([], 0)


def test_reset_idle_timer_moves_the_session_deadline(session, loop):
    """A line over pyftpdlib's limit is discarded by the mixin, which then resets the idle
    timer itself, as pyftpdlib does for every line it reads."""
    raw, handler = session
    before = loop(lambda: handler._idler.timeout)
    raw.sock.sendall(b"A" * 3000 + b"\r\n")
    assert raw.reply() == "500 Command too long."
    after = loop(lambda: (handler._idler.timeout, handler._idler.cancelled))
    assert after[0] > before and after[1] is False
    loop(lambda: internals.reset_idle_timer(handler))
    assert loop(lambda: handler._idler.timeout) > after[0]


def test_close_connecting_data_closes_a_passive_listener(session, loop):
    raw, handler = session
    reply = raw.cmd("PASV")
    assert reply.startswith("227 ")
    *_, hi, lo = (int(n) for n in reply.split("(")[1].split(")")[0].split(","))
    loop(lambda: internals.close_connecting_data(handler))
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", hi * 256 + lo), timeout=DEADLINE).close()
    assert raw.cmd("NOOP").startswith("200")


@pytest.mark.parametrize("broken", [True, False], ids=["broken", "not-broken"])
def test_broken_makes_a_tls_session_close_without_close_notify(root, monkeypatch, broken):
    """The TCP reset of ``reset`` must look like one over TLS too
    (test_tls.py::test_reset_over_tls_sends_no_close_notify): a broken session closes
    without TLS's close_notify, which Python's ssl reports as SSLEOFError; a session
    closed normally sends one, which reads as a clean end of file."""
    with FaultServer(Settings(root=root, port=0, passive_ports=None, tls=True)) as server:
        loop = Loop(server, Recorder(server.bus), monkeypatch)
        _, tls = raw_tls_session(server.port)
        # (its socket is wrapped now, with no address of its own: it is the other session)
        handler = wait_until(
            lambda: next((c for c in list(server.ioloop.socket_map.values())
                          if isinstance(c, FTPHandler) and c is not loop.handler), None),
            what="the TLS session's handler")

        def close() -> None:
            if broken:
                internals.broken(handler)
            handler.close()

        with tls:
            loop(close)
            readable, _, _ = select.select([tls], [], [], DEADLINE)
            assert readable
            if broken:
                with pytest.raises((ssl.SSLEOFError, ConnectionResetError)):
                    tls.recv(1024)
            else:
                assert tls.recv(1024) == b""
        loop.close()


def test_transfer_queued_while_a_transfer_waits_for_its_data_connection(server, root, session,
                                                                       loop):
    raw, handler = session
    (root / "f.bin").write_bytes(b"abc")
    assert loop(lambda: internals.transfer_queued(handler)) is False
    port = pasv_port(raw.cmd("PASV"))
    assert raw.cmd("RETR f.bin").startswith("150 ")  # no data connection yet: queued
    assert loop(lambda: internals.transfer_queued(handler)) is True
    data_sock = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
    assert read_all(data_sock) == b"abc"
    assert raw.reply() == "226 Transfer complete."
    assert loop(lambda: internals.transfer_queued(handler)) is False


@pytest.mark.parametrize("command", ["RETR f.bin", "STOR up.bin"])
def test_drop_queued_transfer_forgets_it_and_closes_its_file(server, root, session, loop,
                                                            command):
    raw, handler = session
    (root / "f.bin").write_bytes(b"abc")
    port = pasv_port(raw.cmd("PASV"))
    assert raw.cmd(command).startswith("150 ")
    queued = loop(lambda: handler._out_dtp_queue or handler._in_dtp_queue)
    file = next(f for f in queued if hasattr(f, "closed"))
    loop(lambda: internals.drop_queued_transfer(handler))
    assert file.closed and loop(lambda: internals.transfer_queued(handler)) is False
    # the data connection then finds nothing to carry, and no reply comes for it
    socket.create_connection(("127.0.0.1", port), timeout=DEADLINE).close()
    assert raw.cmd("NOOP").startswith("200")


def test_tls_session_reused_tells_a_resumed_data_handshake(root, monkeypatch):
    """The first handshake of a client never resumes; a data connection that hands the
    control connection's session back does (and tls=reuse refuses the other one)."""
    from tests.ftp.test_data_tls import refused_read, reusing_login

    seen: list[bool] = []
    (root / "f.bin").write_bytes(b"abc")
    with FaultServer(Settings(root=root, port=0, passive_ports=None, tls=True)) as server:
        server.arm("data,tls=reuse")  # (its handshakes all go through handle_ssl_established)
        dtp = server._ftpd.handler.dtp_handler
        established = dtp.handle_ssl_established
        monkeypatch.setattr(dtp, "handle_ssl_established", lambda self: (
            seen.append(internals.tls_session_reused(self.socket)), established(self)))
        plain = login(server.port, tls=True)
        assert refused_read(plain, "RETR f.bin").startswith("425 ")
        plain.quit()
        reusing = reusing_login(server.port)
        assert reusing.retrbinary("RETR f.bin", lambda b: None).startswith("226")
        reusing.quit()
    assert seen == [False, True]
