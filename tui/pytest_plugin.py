"""pytest fixtures for FTP client tests: a real FTP server with faults, per test.

Registered through the ``pytest11`` entry point, so installing ftp-fault-console is enough:

    def test_upload_retries(ftp_fault_server):
        ftp_fault_server.arm("upload=451,times=1")
        my_client.upload(ftp_fault_server.url, ...)
        assert len(ftp_fault_server.fired("upload")) == 1
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .testing import FaultServer


@pytest.fixture
def ftp_fault_server(tmp_path) -> Iterator[FaultServer]:
    """A plain FTP server on a free loopback port, root in tmp_path/ftp, stopped after the test."""
    with FaultServer(root=tmp_path / "ftp") as server:
        yield server


@pytest.fixture
def ftp_fault_server_tls(tmp_path) -> Iterator[FaultServer]:
    """The same, serving explicit FTPS (AUTH TLS) with a self-signed certificate."""
    with FaultServer(root=tmp_path / "ftps", tls=True) as server:
        yield server
