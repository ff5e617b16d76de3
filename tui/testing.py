"""FaultServer for test suites: a real FTP server with faults, in a background thread.

    from tui.testing import FaultServer

    with FaultServer(faults=["upload=451,times=1"]) as ftp:
        my_client.upload(ftp.host, ftp.port, ftp.user, ftp.password, "report.pdf")
        assert ftp.fired("upload")

The pytest plugin (``ftp_fault_server`` and ``ftp_fault_server_tls`` fixtures) hands out
one per test. Nothing here imports Textual.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path

from . import server as _server
from .events import Event
from .faults import FaultBoard, Rule
from .settings import Settings

SETTLE_TIMEOUT = 5.0  # seconds events() waits for the server's loop to come round


class _Barrier:
    """A socketpair in the server's IOLoop. The loop runs one callback at a time, so when it
    reads from this pair, whatever it was doing before has finished: a reply that reached
    a client has had the events that follow it (transfer, reply) emitted too."""

    def __init__(self, ioloop) -> None:
        self._reader, self._writer = socket.socketpair()
        self._reader.setblocking(False)
        self._writer.setblocking(False)
        self._lock = threading.Lock()
        self._waiting: list[threading.Event] = []
        self._fileno = self._reader.fileno()  # IOLoop.close() sorts its channels by it
        ioloop.register(self._fileno, self, ioloop.READ)

    def wait(self, timeout: float) -> bool:
        passed = threading.Event()
        with self._lock:
            self._waiting.append(passed)
        try:
            self._writer.send(b"\0")
        except BlockingIOError:  # the pair is full: a pass is due anyway
            pass
        except OSError:  # closed: the loop is gone
            return False
        return passed.wait(timeout)

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return False

    def handle_read_event(self) -> None:
        try:
            self._reader.recv(4096)
        except OSError:
            pass
        with self._lock:
            waiting, self._waiting = self._waiting, []
        for passed in waiting:
            passed.set()

    def handle_error(self) -> None:
        pass

    def handle_close(self) -> None:
        pass

    def close(self) -> None:
        self._reader.close()
        self._writer.close()


class FaultServer(_server.FaultServer):
    """The headless server with friendly defaults: a fresh root (removed afterwards) unless
    one is given, a free port, kernel-chosen passive ports. Start it with ``with`` or
    ``start()``; ``.url``, ``.host``, ``.port``, ``.root``, ``.user``, ``.password``."""

    def __init__(
        self,
        root: str | Path | None = None,
        port: int = 0,
        faults: Iterable[str | Rule] = (),
        *,
        tls: bool = False,
        tls_required: bool = False,
        host: str = "127.0.0.1",
        user: str = "testuser",
        password: str = "testpass",
        seed: int | None = None,
        anonymous: bool = False,
    ) -> None:
        self._own_root = root is None
        if root is None:
            root = tempfile.mkdtemp(prefix="ftpfault-root-")
        settings = Settings(host=host, port=port, root=Path(root), user=user, password=password,
                            passive_ports=None, anonymous=anonymous, seed=seed,
                            tls=tls, tls_required=tls_required)
        try:
            super().__init__(settings, board=FaultBoard(seed=seed))
            self._barrier = _Barrier(self.ioloop)
            for spec in faults:
                self.arm(spec)
        except BaseException:  # a busy port, a bad spec: nothing is left behind
            if hasattr(self, "_thread"):  # bound: close the listening socket
                super().stop()
            if self._own_root:
                shutil.rmtree(root, ignore_errors=True)
            raise

    def stop(self, timeout: float = 5.0) -> None:
        super().stop(timeout)
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def settle(self) -> None:
        """Wait until the server is done with what it was doing: once a client has a reply,
        every event up to that reply (its transfer included) is in events()."""
        thread = self._thread
        if (thread is not None and thread.is_alive() and thread is not threading.current_thread()
                and not self.wait_stopped(0)):
            self._barrier.wait(SETTLE_TIMEOUT)

    def events(self, kind: str | None = None, since: int = 0) -> list[Event]:
        self.settle()
        return super().events(kind, since)

    def fired(self, point: str | None = None) -> list[Event]:
        self.settle()
        return super().fired(point)


__all__ = ["FaultServer", "Rule"]
