"""A server under test and the ways to wait for it: the account, the deadline every wait
has, the event recorder, a logged-in ftplib session, payloads, and ``ftpfault`` itself."""

from __future__ import annotations

import ftplib
import hashlib
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tui.engine.events import Event, EventBus
from tui.engine.server import FaultServer

USER, PASSWORD = "testuser", "testpass"
DEADLINE = 10.0  # seconds any wait in a test may take before it fails


def wait_until(predicate: Callable[[], object], timeout: float = DEADLINE, what: str = "condition"):
    """Poll ``predicate`` until it is truthy; fail the test at the deadline."""
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > end:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)


class Recorder:
    """Keeps every event a server emits, for assertions and waiting."""

    def __init__(self, bus: EventBus) -> None:
        self.feed = bus.subscribe(maxlen=1_000_000)
        self.events: list[Event] = []

    def of(self, kind: str, **match) -> list[Event]:
        self.events.extend(self.feed.drain())
        return [
            e for e in self.events
            if e.kind == kind and all(getattr(e, k) == v for k, v in match.items())
        ]

    def wait(self, kind: str, count: int = 1, timeout: float = DEADLINE, **match) -> list[Event]:
        return wait_until(
            lambda: (found := self.of(kind, **match)) and len(found) >= count and found,
            timeout, f"{count} {kind} event(s) matching {match}",
        )


def connect(server: FaultServer, timeout: float = DEADLINE) -> ftplib.FTP:
    ftp = ftplib.FTP(timeout=timeout)
    ftp.connect("127.0.0.1", server.port)
    ftp.login(USER, PASSWORD)
    return ftp


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path) -> str:
    return sha256(path.read_bytes())


_NO_LINE_ENDS = bytes.maketrans(b"\r\n", b"RN")


def payload(size: int, seed: int = 0) -> bytes:
    """Deterministic random bytes, so a shifted or truncated copy shows; no CR or LF in
    them, so an ASCII-mode (TYPE A) transfer leaves them as they are."""
    return random.Random(seed).randbytes(size).translate(_NO_LINE_ENDS)


# --- the ftpfault command, as a user runs it

FTPFAULT = [sys.executable, "-m", "tui"]


def ftpfault_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def run_ftpfault(*args: str, timeout: float = DEADLINE) -> subprocess.CompletedProcess:
    """``ftpfault ARGS`` to completion, output captured, no terminal on stdin."""
    return subprocess.run([*FTPFAULT, *args], capture_output=True, text=True,
                          timeout=timeout, env=ftpfault_env(), stdin=subprocess.DEVNULL)


class Headless:
    """``ftpfault --headless ARGS`` in the background; its stdout collected line by line.
    Tests use it through the ``headless`` fixture, which never leaves it running."""

    def __init__(self, *args: str, command: tuple[str, ...] = ()) -> None:
        self.proc = subprocess.Popen(
            [*FTPFAULT, *command, "--headless", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL, text=True, env=ftpfault_env(),
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        wait_until(lambda: self.lines or self.proc.poll() is not None, what="the banner")
        assert self.lines, self.proc.communicate(timeout=DEADLINE)[1]
        self.banner = self.lines[0]
        self.port = int(re.search(r"ftp://[^/\s]+:(\d+)/", self.banner).group(1))  # (reached on 127.0.0.1)
        control = re.search(r"control=(http://\S+)", self.banner)
        self.control = control.group(1) if control else None

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_line(self, pattern: str) -> str:
        return wait_until(lambda: next((l for l in self.lines if re.search(pattern, l)), None),
                          what=f"a log line matching {pattern!r}")

    def ftp(self) -> ftplib.FTP:
        ftp = ftplib.FTP(timeout=DEADLINE)
        ftp.connect("127.0.0.1", self.port)
        ftp.login(USER, PASSWORD)
        return ftp

    def stop(self, signum: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
        code = self.proc.wait(DEADLINE)
        self._reader.join(DEADLINE)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(DEADLINE)


def write_profile(path: Path, text: str) -> Path:
    """A profile (TOML) written as a user would, for ``--profile`` or ``load_profile``."""
    path.write_text(text, encoding="utf-8")
    return path


def serve_file(root: Path, name: str, size: int, seed: int) -> bytes:
    """A file of ``size`` seeded bytes in the FTP root; its content."""
    data = payload(size, seed)
    (root / name).write_bytes(data)
    return data
