"""A server that cannot start says why in one line a user can act on (no errno dump, no
traceback) and leaves nothing behind: a port in use, a root that is a file, below a file,
not writable, or in a place nobody can create a directory.

The same errors as ``ftpfault`` prints them are in tests/automation/test_cli.py.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest

from tests.support.ftp import assert_serves_a_fresh_client
from tui.engine.server import FaultServer, ServerError
from tui.engine.settings import Settings


def test_port_in_use_is_one_clear_line(root):
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        with pytest.raises(ServerError) as err:
            FaultServer(Settings(root=root, port=port, passive_ports=None))
        message = str(err.value)
        assert str(port) in message and "in use" in message, message
        assert "\n" not in message and len(message) < 200, message
        assert "Errno" not in message, message  # words for a user, not an errno dump
    # nothing was left behind by the failed start: the port serves once it is free
    with FaultServer(Settings(root=root, port=port, passive_ports=None)) as server:
        assert_serves_a_fresh_client(server)


def assert_one_line_naming(err: pytest.ExceptionInfo, path: Path) -> str:
    message = str(err.value)
    assert str(path) in message, message
    assert "\n" not in message and len(message) < 300, message
    return message


def test_root_that_is_a_file(tmp_path):
    path = tmp_path / "not-a-dir"
    path.write_bytes(b"keep me")
    with pytest.raises(ServerError) as err:
        FaultServer(Settings(root=path, port=0, passive_ports=None))
    assert "not a directory" in assert_one_line_naming(err, path)
    assert path.read_bytes() == b"keep me"


def test_root_below_a_file(tmp_path):
    path = tmp_path / "a-file"
    path.write_bytes(b"")
    with pytest.raises(ServerError) as err:
        FaultServer(Settings(root=path / "sub", port=0, passive_ports=None))
    assert_one_line_naming(err, path / "sub")


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0,
    reason="running as root: permission bits do not stop root's writes "
    "(test_root_in_a_read_only_location covers an unwritable root there)",
)
def test_root_without_write_permission(tmp_path):
    path = tmp_path / "locked"
    path.mkdir()
    path.chmod(0o500)
    try:
        with pytest.raises(ServerError) as err:
            FaultServer(Settings(root=path, port=0, passive_ports=None))
        assert "not writable" in assert_one_line_naming(err, path)
    finally:
        path.chmod(0o700)


def _sysfs_mounted() -> bool:
    try:
        with open("/proc/mounts") as mounts:
            return any(line.split()[1:3] == ["/sys", "sysfs"] for line in mounts)
    except OSError:
        return False


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or not _sysfs_mounted(),
    reason="needs Linux with sysfs on /sys (a place nobody, not even root, can create a directory)",
)
def test_root_in_a_read_only_location():
    path = Path("/sys/ftpfault-reliability-test/root")
    with pytest.raises(ServerError) as err:
        FaultServer(Settings(root=path, port=0, passive_ports=None))
    assert_one_line_naming(err, path)
    assert not path.parent.exists()
