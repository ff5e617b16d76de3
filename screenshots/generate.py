"""Regenerate the README screenshots: ``python screenshots/generate.py``.

Runs the real console (headless, via Textual's Pilot) against a real server, drives it
with the keys a person would press while ftplib clients upload and download, and saves
an SVG of the screen mid-session: faults armed, the log showing them fire.
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

SIZE = (124, 38)


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
    ftp.mkd("backups")
    ftp.cwd("backups")
    _quietly(lambda: ftp.storbinary("STOR nightly-2026-11-24.tar", io.BytesIO(b"b" * 3_000_000)))
    ftp.voidcmd("NOOP")
    _quietly(lambda: ftp.storbinary("STOR manifest.json", io.BytesIO(b'{"files": 1}\n')))


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
        await pilot.press("u")  # arm the upload fault (426)
        await asyncio.to_thread(_client, server.port, _backup_job)
        await asyncio.to_thread(_client, server.port, _download("report.pdf"))
        await pilot.press("a", *"download=451,after=500000,path=*.csv", "enter")  # a cut
        await asyncio.to_thread(_client, server.port, _download("dataset.csv"))
        idle = await asyncio.to_thread(_login, server.port)  # a session that stays open
        await asyncio.to_thread(idle.cwd, "backups")
        end = time.monotonic() + 10  # until the console has drawn all five transfers
        while app.transfers.row_count < 5 and time.monotonic() < end:
            await pilot.pause(0.05)
        await pilot.pause(0.3)  # and the idle session's last reply
        app.save_screenshot(filename=path.name, path=str(path.parent))
        idle.close()
    return path


if __name__ == "__main__":
    out = asyncio.run(make_console_screenshot(HERE / "console.svg"))
    print(f"wrote {out}")
