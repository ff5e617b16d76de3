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
from .engine.chaos import Script
from .engine.profiles import load_profile
from .engine.replay import ReplayPlan
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
        chaos: float | None = None,
        profile: str | Path | None = None,
        journal: str | Path | None = None,
    ) -> None:
        """``profile``: a profile's rules, its [chaos] and its recorded draws ([[replay]],
        as ``ftpfault replay --to-profile`` writes them); its [server] table is not used.
        ``journal``: every event to a JSON Lines file, as --journal does."""
        self._own_root = root is None
        loaded = load_profile(profile) if profile is not None else None
        chaos_settings = {k: v for k, v in (loaded.server if loaded else {}).items()
                          if k in ("chaos", "chaos_points", "chaos_faults")}
        if root is None:
            root = tempfile.mkdtemp(prefix="ftpfault-root-")
        settings = Settings(host=host, port=port, root=Path(root), user=user, password=password,
                            passive_ports=None, anonymous=anonymous, seed=seed,
                            tls=tls, tls_required=tls_required,
                            journal=Path(journal) if journal else None).with_values(
                                {**chaos_settings, **({"chaos": chaos} if chaos else {})})
        rules = [*(loaded.rules if loaded else ()), *faults]
        replay = ReplayPlan([], Script(loaded.replay)) if loaded and loaded.replay else None
        try:
            super().__init__(settings, rules=rules, replay=replay)
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
