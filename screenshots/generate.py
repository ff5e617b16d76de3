"""Regenerate the README screenshots: ``python screenshots/generate.py``.

Runs the real console (headless, via Textual's Pilot) against a real server, drives it
with the keys a person would press while ftplib clients upload and download (retrying and
resuming as real clients do), and saves an SVG of the screen mid-session: faults armed,
the log showing them fire, and the client report beside it saying what each client did.
"""

from __future__ import annotations

import asyncio
import ftplib
import io
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from tui.console.app import FaultConsole  # noqa: E402
from tui.engine.server import FaultServer, ServerError  # noqa: E402
from tui.engine.settings import Settings  # noqa: E402

SIZE = (160, 45)


def _login(port: int) -> ftplib.FTP:
    ftp = ftplib.FTP(timeout=10)
    ftp.connect("127.0.0.1", port)
    ftp.login("testuser", "testpass")
    return ftp


def _client(port: int, work) -> None:
    ftp = _login(port)
    try:
        work(ftp)
    finally:
        ftp.close()


def _quietly(call) -> None:
    try:
        call()
    except ftplib.error_temp:
        pass


def _backup_job(ftp: ftplib.FTP) -> None:
    """An upload that fails once and is sent again at once, as a retrying client does."""
    ftp.mkd("backups")
    ftp.cwd("backups")
    for _ in range(2):
        try:
            ftp.storbinary("STOR nightly-2026-11-24.tar", io.BytesIO(b"b" * 3_000_000))
            break
        except ftplib.error_temp:
            continue
    ftp.storbinary("STOR manifest.json", io.BytesIO(b'{"files": 1}\n'))


def _resuming_download(ftp: ftplib.FTP) -> None:
    """A download cut part way, resumed from where it stopped (REST)."""
    got = bytearray()
    for _ in range(3):
        try:
            ftp.retrbinary("RETR dataset.csv", got.extend, rest=len(got) or None)
            break
        except ftplib.error_temp:
            continue


def _download(name: str):
    return lambda ftp: _quietly(lambda: ftp.retrbinary(f"RETR {name}", lambda b: None))


async def make_console_screenshot(path: Path) -> Path:
    root = Path(tempfile.mkdtemp(prefix="ftpfault-shot-"))
    (root / "report.pdf").write_bytes(b"%PDF" * 60_000)
    (root / "dataset.csv").write_bytes(b"id,value\n" * 200_000)
    try:
        server = FaultServer(Settings(root=root, port=2121, passive_ports=None))
    except ServerError:  # 2121 busy: any port will do
        server = FaultServer(Settings(root=root, port=0, passive_ports=None))
    app = FaultConsole(server)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("a", *"upload=451,times=1", "enter")  # the next upload fails once
        await asyncio.to_thread(_client, server.port, _backup_job)
        await pilot.press("d")  # arm the download fault (426) for one download, then disarm it
        await asyncio.to_thread(_client, server.port, _download("report.pdf"))
        await pilot.press("d")
        await pilot.press("a", *"download=426,after=500000,path=*.csv,times=1", "enter")  # a cut
        await asyncio.to_thread(_client, server.port, _resuming_download)
        idle = await asyncio.to_thread(_login, server.port)  # a session that stays open
        await asyncio.to_thread(idle.cwd, "backups")
        await pilot.press("d")  # the download fault armed again, for whatever comes next
        await pilot.press("r")  # the client report beside the log
        end = time.monotonic() + 10  # until the console has drawn every transfer and account
        while (app.transfers.row_count < 6 or app.report_view.row_count < 3) and time.monotonic() < end:
            await pilot.pause(0.05)
        await pilot.pause(0.3)  # and the idle session's last reply
        app.save_screenshot(filename=path.name, path=str(path.parent))
        idle.close()
    return path


if __name__ == "__main__":
    out = asyncio.run(make_console_screenshot(HERE / "console.svg"))
    print(f"wrote {out}")
