"""Shared fixtures: a real server on a free loopback port, its events, a logged-in client,
``ftpfault`` processes that never outlive a test, and the control API in-process.

The helpers these fixtures hand out, and the ones tests call directly, are in
``tests/support``; test modules import them from there, never from this file.
"""

from __future__ import annotations

import ftplib
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.control import Http
from tests.support.rawftp import RawFTP
from tests.support.servers import Headless, Recorder, connect
from tui.engine.api import ControlAPI
from tui.engine.server import FaultServer
from tui.engine.settings import Settings

# pytester runs the pytest plugin for real (tests/automation/test_pytest_plugin.py);
# pytest takes pytest_plugins only from the root conftest
pytest_plugins = ["pytester"]


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


@pytest.fixture
def ftp(server: FaultServer) -> Iterator[ftplib.FTP]:
    client = connect(server)
    yield client
    try:
        client.close()
    except OSError:
        pass


@pytest.fixture
def raw(server: FaultServer) -> Iterator[RawFTP]:
    """A logged-in session on a raw socket: every byte of every reply as sent."""
    client = RawFTP(server.port)
    client.login()
    yield client
    client.close()


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A client's working directory (its local files live here, not in the FTP root)."""
    path = tmp_path / "client"
    path.mkdir()
    return path


@pytest.fixture
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def headless() -> Iterator[Callable[..., Headless]]:
    """Start ``ftpfault --headless ARGS`` processes; any left running are killed after."""
    started: list[Headless] = []

    def start(*args: str, command: tuple[str, ...] = ()) -> Headless:
        server = Headless(*args, command=command)
        started.append(server)
        return server

    yield start
    for server in started:
        server.kill()


@pytest.fixture
def headless_control(headless, tmp_path: Path) -> Callable[..., Headless]:
    """``ftpfault --headless`` on a free port, with a control API and a journal; the
    process gets ``.root`` and ``.journal`` (the same paths for every start in a test)."""

    def start(*args: str) -> Headless:
        root, journal = tmp_path / "root", tmp_path / "journal.jsonl"
        server = headless("--port", "0", "--root", str(root), "--control", "0",
                          "--journal", str(journal), *args)
        server.root, server.journal = root, journal
        return server

    return start


@pytest.fixture
def api(server: FaultServer) -> Iterator[ControlAPI]:
    """The control API of the ``server`` fixture, on a free port."""
    control = ControlAPI(server, "127.0.0.1", 0).start()
    yield control
    control.stop()


@pytest.fixture
def http_api(api: ControlAPI) -> Http:
    return Http(api.url)


@pytest.fixture
def console(settings: Settings):
    """The console app on its own server, not yet running: ``async with console.run_test()``.
    (tests/console/test_tmux.py has a console of its own, in a real terminal.)"""
    from tui.console.app import FaultConsole  # Textual loads only for the tests that use it

    return FaultConsole(FaultServer(settings))
