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
import tempfile
from collections.abc import Iterable
from pathlib import Path

from .engine import server as _server
from .engine.rules import Rule
from .engine.settings import Settings


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
            super().__init__(settings, rules=faults)
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


__all__ = ["FaultServer", "Rule"]
