"""Shared fixtures: a real server on a free loopback port, and ways to wait for it."""

from __future__ import annotations

import ftplib
import hashlib
import os
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tui.events import Event, EventBus
from tui.server import FaultServer
from tui.settings import Settings

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


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "root"
    path.mkdir()
    return path


@pytest.fixture
def settings(root: Path) -> Settings:
    return Settings(root=root, port=0, passive_ports=None)


@pytest.fixture
def server(settings: Settings) -> Iterator[FaultServer]:
    with FaultServer(settings) as srv:
        yield srv


@pytest.fixture
def recorder(server: FaultServer) -> Recorder:
    return Recorder(server.bus)


def connect(server: FaultServer, timeout: float = DEADLINE) -> ftplib.FTP:
    ftp = ftplib.FTP(timeout=timeout)
    ftp.connect("127.0.0.1", server.port)
    ftp.login(USER, PASSWORD)
    return ftp


@pytest.fixture
def ftp(server: FaultServer) -> Iterator[ftplib.FTP]:
    client = connect(server)
    yield client
    try:
        client.close()
    except OSError:
        pass


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path) -> str:
    return sha256(path.read_bytes())


_NO_LINE_ENDS = bytes.maketrans(b"\r\n", b"RN")


def payload(size: int, seed: int = 0) -> bytes:
    """Deterministic random bytes, so a shifted or truncated copy shows; no CR or LF in
    them, so an ASCII-mode (TYPE A) transfer leaves them as they are."""
    return random.Random(seed).randbytes(size).translate(_NO_LINE_ENDS)


@pytest.fixture
def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ftpfault_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env
