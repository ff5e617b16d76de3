"""The data channel's buffer sizes are in effect: an upload is read 1 MiB at a time
(DATA_BUFFER), a download sendfile()s 64 KiB at a time (SEND_BUFFER) unless its server was
asked for other chunks (send_chunk: the console asks for a MiB), and the bytes are the same
as sent."""

from __future__ import annotations

import io
import os

from pyftpdlib.ioloop import AsyncChat

from tests.support.servers import connect, file_sha256, payload, sha256
from tui.engine.ftp.data import DATA_BUFFER, SEND_BUFFER


def test_an_upload_is_read_a_mib_at_a_time(server, ftp, root, monkeypatch):
    sizes: list[int] = []
    real = AsyncChat.recv

    def recording(self, buffer_size):
        sizes.append(buffer_size)
        return real(self, buffer_size)

    monkeypatch.setattr(AsyncChat, "recv", recording)
    data = payload(3 * DATA_BUFFER + 123)
    ftp.storbinary("STOR up.bin", io.BytesIO(data))
    assert file_sha256(root / "up.bin") == sha256(data)
    assert DATA_BUFFER in sizes  # the data channel's reads (the control channel's are small)


def test_a_download_is_sent_64_kib_at_a_time(server, ftp, root, monkeypatch):
    counts: list[int] = []
    real = os.sendfile

    def recording(out_fd, in_fd, offset, count, *args, **kwargs):
        counts.append(count)
        return real(out_fd, in_fd, offset, count, *args, **kwargs)

    monkeypatch.setattr(os, "sendfile", recording)
    data = payload(5 * SEND_BUFFER + 7, seed=3)
    (root / "down.bin").write_bytes(data)
    got = io.BytesIO()
    ftp.retrbinary("RETR down.bin", got.write)
    assert sha256(got.getvalue()) == sha256(data)
    assert counts and set(counts) == {SEND_BUFFER}


def test_send_chunk_is_per_server_and_the_console_asks_for_a_mib(tmp_path, monkeypatch):
    from tui.engine.server import FaultServer
    from tui.engine.settings import Settings

    counts: list[int] = []
    real = os.sendfile
    monkeypatch.setattr(os, "sendfile", lambda o, i, off, n, *a, **k: counts.append(n) or real(o, i, off, n, *a, **k))
    data = payload(3 * DATA_BUFFER, seed=4)
    servers = []
    for name in ("big", "default"):
        root = tmp_path / name
        root.mkdir()
        (root / "f.bin").write_bytes(data)
        servers.append(FaultServer(Settings(root=root, port=0, passive_ports=None)).start())
    try:
        servers[0].send_chunk(DATA_BUFFER)
        for server, chunk in zip(servers, (DATA_BUFFER, SEND_BUFFER)):
            counts.clear()
            ftp = connect(server)
            got = io.BytesIO()
            ftp.retrbinary("RETR f.bin", got.write)
            ftp.quit()
            assert sha256(got.getvalue()) == sha256(data)
            assert set(counts) == {chunk}
    finally:
        for server in servers:
            server.stop()
