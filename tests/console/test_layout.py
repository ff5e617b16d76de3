"""The console fits the terminal: at 80x24, 120x36 and 160x45 (read off a real tmux
screen) the transfers' result and file columns show whole for a 40-character path, no
table needs a horizontal scrollbar, and the log says it is following."""

from __future__ import annotations

import ftplib
import io
import re
import shutil

import pytest

from tests.support.servers import DEADLINE, PASSWORD, USER
from tests.support.tmux import TmuxConsole

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")

PATH = "/reports-2026/quarterly-summary-2025.xls"  # 40 characters
assert len(PATH) == 40


def upload_twice(port: int) -> list[str]:
    """The same upload twice (the test arms a fault between): both final replies."""
    ftp = ftplib.FTP(timeout=DEADLINE)
    ftp.connect("127.0.0.1", port)
    ftp.login(USER, PASSWORD)
    ftp.mkd("reports-2026")
    replies = []
    for _ in range(2):
        try:
            replies.append(ftp.storbinary(f"STOR {PATH}", io.BytesIO(b"q" * 4096)))
        except ftplib.error_temp as err:
            replies.append(str(err))
    assert ftp.voidcmd("NOOP").startswith("200")
    ftp.quit()
    return replies


@pytest.mark.parametrize("size", [(80, 24), (120, 36), (160, 45)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_result_and_file_columns_fit(tmp_path, size):
    console = TmuxConsole(tmp_path, size=size, args=("--fault", "upload=451,every=2"))
    try:
        assert [r[:3] for r in upload_twice(console.port)] == ["226", "451"]
        # both transfers, each with its whole path and its result on the same line
        results = [re.compile(rf"{result}\s+{re.escape(PATH)}") for result in ("226", "451 ⚡ r1")]
        screen = console.wait_for_screen(
            lambda screen: all(r.search(screen) for r in results), "both transfers' rows")
        rows = [line for line in screen.splitlines() if PATH in line]
        assert all(len(line) <= size[0] for line in screen.splitlines())
        assert "following" in screen  # the log's border says it follows
        if size[0] >= 120:  # wide enough for the bytes and the state beside them
            assert any("4.0 KiB" in line for line in rows), screen
    finally:
        console.close()
