"""What a test does on an FTP session and checks after it.

- The sync guard: after a fault that keeps the connection the next ``NOOP`` must get its
  own ``200`` (exactly one final reply per command).
- ftplib exchanges that return the final reply, fault replies included; FTPS logins.
- Which session the server gave a client, a raw transfer begun, a client on a thread,
  another session answered at once while one is held up.
"""

from __future__ import annotations

import ftplib
import io
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path

from tui.engine.rules import Rule, parse_rule
from tui.engine.server import FaultServer

from .rawftp import RawFTP
from .servers import DEADLINE, PASSWORD, USER, Recorder, connect, file_sha256, payload

# --- the sync guard, and what the server reported


def noop_ok(client: ftplib.FTP | RawFTP) -> None:
    """The sync guard: the next command gets its own 200, no stale reply is waiting."""
    if isinstance(client, RawFTP):
        reply = client.cmd("NOOP")
    else:
        reply = client.voidcmd("NOOP")
    assert reply.startswith("200"), reply


def only_fault(recorder: Recorder, **match):
    """The one fault the server reported (and it matches)."""
    (fault,) = recorder.wait("fault", **match)
    assert len(recorder.of("fault")) == 1, recorder.of("fault")
    return fault


def address_of(sock: socket.socket) -> str:
    """A client socket's address as the server's events spell it."""
    host, port = sock.getsockname()[:2]
    return f"{host}:{port}"


def session_for(recorder: Recorder, sock_or_address: socket.socket | str) -> int:
    """The server's session id for a connected client (matched by its address).

    The server emits ``session.open`` before it sends the greeting, so once a client has
    read the greeting the event is there; the last match wins if a port was reused.
    Call it from the test's thread only: the Recorder is not made for several readers."""
    address = sock_or_address if isinstance(sock_or_address, str) else address_of(sock_or_address)
    return recorder.wait("session.open", address=address)[-1].session


def assert_serves_a_fresh_client(server: FaultServer) -> None:
    client = connect(server)
    try:
        assert client.voidcmd("NOOP").startswith("200")
        client.quit()
    finally:
        client.close()


def add_rule(server: FaultServer, spec: str, armed: bool) -> Rule:
    """The same rule armed or not, so a test shows what the fault changes and what it doesn't."""
    return server.board.add(parse_rule(spec).replace(enabled=armed))


# --- raw sessions


def three_wrong_passwords(port: int) -> list[str]:
    """One session, three wrong passwords (pyftpdlib's limit): the replies, then the server
    hangs up. (Each refusal waits for pyftpdlib's auth_failed_timeout.)"""
    raw = RawFTP(port)
    try:
        replies = []
        for _ in range(3):
            assert raw.cmd(f"USER {USER}").startswith("331")
            replies.append(raw.cmd("PASS not-the-password"))
        assert raw.file.readline() == b""  # hung up
        return replies
    finally:
        raw.close()



def open_transfer(server: FaultServer, recorder: Recorder, command: str
                  ) -> tuple[RawFTP, int, socket.socket]:
    """A raw session, logged in, with COMMAND begun on a passive data connection:
    the client, its session id on the server, the data socket."""
    raw = RawFTP(server.port)
    sid = session_for(recorder, raw.sock)
    raw.login()
    data_sock = raw.transfer(command)
    return raw, sid, data_sock


def reset_on_close(sock: socket.socket) -> None:
    """Make close() send an RST instead of a FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def lines(n: int, width: int = 40) -> bytes:
    """Text with LF line ends (the server sends CRLF in TYPE A)."""
    return b"".join(f"line {i:06d} ".ljust(width - 1, "x").encode() + b"\n" for i in range(n))


BIG_DOWNLOAD = 16 * 1024 * 1024  # well beyond what loopback socket buffers hold unread


def write_big_file(path: Path, size: int = BIG_DOWNLOAD, seed: int = 11) -> str:
    block = payload(1 << 20, seed=seed)
    with path.open("wb") as f:
        for _ in range(size // len(block)):
            f.write(block)
    return file_sha256(path)


# --- ftplib: the final reply of each exchange, FTP or FTPS


def insecure_context() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def login(port: int, tls: bool = False, user: str = USER, password: str = PASSWORD,
          prot_p: bool = True) -> ftplib.FTP:
    """A logged-in ftplib session; over FTPS: AUTH TLS, then PBSZ 0 + PROT P."""
    if tls:
        ftp = ftplib.FTP_TLS(context=insecure_context(), timeout=DEADLINE)
    else:
        ftp = ftplib.FTP(timeout=DEADLINE)
    ftp.connect("127.0.0.1", port)
    ftp.login(user, password)
    if tls and prot_p:
        ftp.prot_p()
    return ftp


def final(call: Callable[[], str]) -> str:
    """The final reply of a command, fault replies included."""
    try:
        return call()
    except (ftplib.error_temp, ftplib.error_perm) as err:
        return str(err)


def store(ftp: ftplib.FTP, name: str, data: bytes) -> str:
    """Upload; the final reply. A cut that reaches us while we still send leaves the
    reply waiting on the control connection: read it."""
    try:
        return ftp.storbinary(f"STOR {name}", io.BytesIO(data))
    except (ftplib.error_temp, ftplib.error_perm) as err:
        return str(err)
    except OSError:
        return final(ftp.getresp)


def retrieve(ftp: ftplib.FTP, name: str) -> tuple[str, bytes]:
    got = bytearray()
    return final(lambda: ftp.retrbinary(f"RETR {name}", got.extend)), bytes(got)


def upload_once(port: int, name: str, data: bytes = b"x" * 1000, **kw) -> str:
    """One upload on a fresh session; after a fault the session must still answer NOOP."""
    ftp = login(port, **kw)
    try:
        reply = store(ftp, name, data)
        noop_ok(ftp)
        return reply
    finally:
        ftp.close()


def code_of(reply: str) -> int:
    return int(reply[:3])


# --- time: a client on a thread, another session answered meanwhile


def timed(fn: Callable[[], object]) -> tuple[object, float]:
    began = time.monotonic()
    result = fn()
    return result, time.monotonic() - began


class Background(threading.Thread):
    """Runs ``fn`` on a thread; keeps its result or exception and when it ended."""

    def __init__(self, fn: Callable[[], object]) -> None:
        super().__init__(daemon=True)
        self.fn = fn
        self.result: object = None
        self.error: BaseException | None = None
        self.ended = 0.0
        self.start()

    def run(self) -> None:
        try:
            self.result = self.fn()
        except BaseException as exc:  # noqa: BLE001 - the test looks at it
            self.error = exc
        self.ended = time.monotonic()

    def outcome(self, timeout: float = DEADLINE):
        self.join(timeout)
        assert not self.is_alive(), "the client thread is still running"
        if self.error is not None:
            raise self.error
        return self.result


def answered_at_once(server: FaultServer, limit: float) -> float:
    """Another session logs in and gets its NOOP answered within ``limit`` seconds;
    returns when the answer came (monotonic)."""
    began = time.monotonic()
    other = connect(server)
    try:
        noop_ok(other)
        done = time.monotonic()
        other.quit()
    finally:
        other.close()
    assert done - began < limit, f"another session waited {done - began:.2f} s"
    return done


def raw_tls_session(port: int) -> tuple[socket.socket, ssl.SSLSocket]:
    """AUTH TLS and a login by hand, on a socket that reports a TLS end without a
    close_notify as an error (SSLEOFError) rather than as a clean end of file."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
    reader = raw.makefile("rb")
    assert reader.readline().startswith(b"220")
    raw.sendall(b"AUTH TLS\r\n")
    assert reader.readline().startswith(b"234")
    reader.close()
    tls = insecure_context().wrap_socket(raw, suppress_ragged_eofs=False)
    for line, code in ((b"USER testuser", b"331"), (b"PASS testpass", b"230")):
        tls.sendall(line + b"\r\n")
        assert tls.recv(1024).startswith(code)
    return raw, tls
