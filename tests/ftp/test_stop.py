"""Stopping the server while transfers run, and with idle or half-open clients: stop() is
prompt (well under 2 s), every session is closed and says so, nothing faults or fails,
what was on disk stays, and the port is free again for a new server.
"""

from __future__ import annotations

import ftplib
import socket
import threading
import time

import pytest

from tests.support.ftp import address_of, assert_serves_a_fresh_client, session_for, write_big_file
from tests.support.servers import DEADLINE, Recorder, connect, file_sha256, payload
from tui.engine.server import FaultServer
from tui.engine.settings import Settings


class EndlessUpload:
    """A file-like object for storbinary that never ends; says when ``after`` bytes went out."""

    def __init__(self, after: int) -> None:
        self.block = payload(64 * 1024, seed=21)
        self.sent = 0
        self.after = after
        self.flowing = threading.Event()

    def read(self, size: int = -1) -> bytes:
        chunk = self.block[: size if 0 < size <= len(self.block) else len(self.block)]
        self.sent += len(chunk)
        if self.sent >= self.after:
            self.flowing.set()
        return chunk


def test_stop_with_transfers_in_flight(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    digest = write_big_file(root / "big.bin")
    server = FaultServer(Settings(root=root, port=0, passive_ports=None))
    recorder = Recorder(server.bus)
    server.board.add("upload=451")
    server.board.add("download=451")
    server.start()
    port = server.port
    stopped = threading.Event()
    outcome: dict[str, BaseException | str] = {}
    addresses: dict[str, str] = {}
    try:
        upload_source = EndlessUpload(after=2_000_000)
        download_flowing = threading.Event()

        def uploader() -> None:
            ftp = connect(server, timeout=5)
            addresses["upload"] = address_of(ftp.sock)
            try:
                outcome["upload"] = ftp.storbinary("STOR endless.bin", upload_source)
            except BaseException as exc:  # noqa: BLE001 - the test looks at it
                outcome["upload"] = exc
            finally:
                ftp.close()

        def downloader() -> None:
            ftp = connect(server, timeout=5)
            addresses["download"] = address_of(ftp.sock)

            def sink(chunk: bytes) -> None:
                if not download_flowing.is_set():
                    download_flowing.set()
                    stopped.wait(DEADLINE)  # stop reading until the server is gone

            try:
                outcome["download"] = ftp.retrbinary("RETR big.bin", sink)
            except BaseException as exc:  # noqa: BLE001
                outcome["download"] = exc
            finally:
                ftp.close()

        idle = connect(server, timeout=5)
        addresses["idle"] = address_of(idle.sock)
        threads = [threading.Thread(target=f, daemon=True) for f in (uploader, downloader)]
        for thread in threads:
            thread.start()
        assert upload_source.flowing.wait(DEADLINE), "upload never got going"
        assert download_flowing.wait(DEADLINE), "download never got going"
        recorder.wait("transfer.progress", direction="upload")  # the server sees both mid-way
        recorder.wait("transfer.progress", direction="download")

        began = time.monotonic()
        server.stop()
        took = time.monotonic() - began
        stopped.set()
    finally:
        stopped.set()
        server.stop()
    assert took < 2.0, f"stop() took {took:.2f} s"
    assert server.wait_stopped(0)
    assert server._thread is not None and not server._thread.is_alive()

    for thread in threads:
        thread.join(DEADLINE)
    assert not any(t.is_alive() for t in threads), "a client hung after the server stopped"
    # the clients learn the connection is gone by an exception, not a reply
    for name in ("upload", "download"):
        assert isinstance(outcome[name], (OSError, EOFError, ftplib.Error)), (name, outcome[name])
    with pytest.raises((OSError, EOFError)):
        idle.voidcmd("NOOP")
    idle.close()

    # every session was closed and said so; nothing faulted, nothing failed
    sessions = {session_for(recorder, address) for address in addresses.values()}
    assert len(sessions) == 3
    closed = {e.session for e in recorder.of("session.close")}
    assert closed == sessions == {e.session for e in recorder.of("session.open")}
    for transfer in recorder.of("transfer"):
        assert transfer.code is None, transfer  # closed by the stop: no reply
    assert recorder.of("fault") == []
    assert server.board.fired(server.board.first("upload").id) == 0
    assert recorder.of("error") == []
    assert file_sha256(root / "big.bin") == digest
    assert (root / "endless.bin").stat().st_size > 0

    # the port is free: a listener can bind it (SO_REUSEADDR, as any server, since the
    # closed connections sit in TIME_WAIT on that port) and a new server serves on it
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))
        probe.listen()
    with FaultServer(Settings(root=root, port=port, passive_ports=None)) as again:
        assert again.port == port
        assert_serves_a_fresh_client(again)


def test_stop_is_prompt_with_many_idle_and_half_open_clients(tmp_path):
    """Clients that connected but never spoke, and ones that left a partial line."""
    root = tmp_path / "root"
    server = FaultServer(Settings(root=root, port=0, passive_ports=None))
    recorder = Recorder(server.bus)
    server.start()
    socks = []
    try:
        for i in range(20):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=DEADLINE)
            socks.append(sock)
            if i % 2:
                sock.sendall(b"USER test")  # no CRLF
        recorder.wait("session.open", count=20)
        began = time.monotonic()
        server.stop()
        took = time.monotonic() - began
    finally:
        server.stop()
    assert took < 2.0
    for i, sock in enumerate(socks):
        data = b""
        try:
            while chunk := sock.recv(4096):  # greeting, then EOF; a hang hits the timeout
                data += chunk
        except ConnectionResetError:
            # the kernel's answer to closing a socket with bytes not yet read: only a client
            # that sent some may see it
            assert i % 2, f"client {i} sent nothing, yet its connection was reset"
        else:
            assert data.startswith(b"220 ") and data.count(b"\r\n") == 1, data
        sock.close()
    assert len(recorder.of("session.close")) == 20
    assert recorder.of("error") == []
