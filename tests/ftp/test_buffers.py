"""The data channel's buffer sizes are in effect: an upload is read 1 MiB at a time
(DATA_BUFFER), a download sendfile()s 64 KiB at a time (SEND_BUFFER), and the bytes are
the same as sent."""

from __future__ import annotations

import io
import os

from pyftpdlib.ioloop import AsyncChat

from tests.support.servers import file_sha256, payload, sha256
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
