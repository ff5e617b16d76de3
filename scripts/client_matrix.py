#!/usr/bin/env python3
"""What real FTP clients do with a fault: each installed client against each fault, and the
verdict the client report gives (the README's "What clients do with a fault" table).

Every run gets a server of its own (tui.testing.FaultServer: a free loopback port, a fresh
root) with one rule armed, runs one client with a fixed, bounded command (upload 200,000 B
or download 1 MiB), waits for its sessions to end and asks ``report(final=True)``. A cell
is the first fault's ``reaction, outcome`` and the client's exit status, plus what is
wrong with the file (uploads: on the server; downloads: on disk) when it is not whole,
and how many faults fired when more than one did. ``n/a``: the client has no such
transfer (wget only downloads). A client that fails is a cell, never a crash: this is a
survey, not a test (exit status 0 whatever the cells say).

Clients (absent ones are skipped; their commands are in CLIENTS below): curl, curl
--retry 2, lftp (its reconnect interval set to 1 s instead of 15 s, so a run takes
seconds), wget -c --tries=3 (downloads only), Python ftplib driven by a small loop of this
script's own (3 tries, 1 s apart, a new connection each), tnftp, inetutils ftp,
ncftpget/ncftpput.
Every client gets a 5 s timeout where it has one; the ones without (inetutils ftp) are
killed after CLIENT_LIMIT seconds, which the cell says.

    python scripts/client_matrix.py                          # everything installed, Markdown
    python scripts/client_matrix.py --clients curl,lftp --faults upload=426 --format text

The script runs itself as the ftplib client: ``--ftplib-client up|down PORT``.
"""

from __future__ import annotations

import argparse
import ftplib
import io
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout too

from tui.engine.report import Report  # noqa: E402
from tui.engine.rules import parse_rule  # noqa: E402
from tui.testing import FaultServer  # noqa: E402

USER, PASSWORD = "testuser", "testpass"
UPLOAD_SIZE, DOWNLOAD_SIZE = 200_000, 1 << 20
TIMEOUT = 5  # seconds: every client's own timeout, where it has one
CLIENT_LIMIT = 30  # seconds a client may run before the script kills it
SESSIONS_END = 10  # seconds to wait for the server to see the client's sessions end


FAULTS = (  # the default columns
    "upload=451,times=1",
    "upload=426",
    "download=426,after=100000",
    "download=451,times=1",
    "login=421,drop,times=1",
    "data=425,times=1",
    "download,stall,times=1",
)


def direction(spec: str) -> str:
    """What the client is asked to do against a fault: an upload fault needs an upload,
    anything else gets a download (which every client can do)."""
    return "up" if parse_rule(spec).point.startswith("upload") else "down"


@dataclass
class Job:
    """One client run: the server's port, the client's directory (up.bin to send, or where
    the download lands), and which way the file goes."""

    port: int
    work: Path
    direction: str

    @property
    def url(self) -> str:
        return f"ftp://127.0.0.1:{self.port}/{self.direction}.bin"

    @property
    def login_url(self) -> str:
        return self.url.replace("ftp://", f"ftp://{USER}:{PASSWORD}@")


@dataclass(frozen=True)
class Client:
    key: str  # its name for --clients
    label: str  # the row's name, {v} its version: says how the client was run
    binary: str  # what must be installed
    version: Callable[[], str]
    command: Callable[[Job], list[str] | None]  # None: the client has no such transfer
    script: Callable[[Job], str] | None = None  # what to type on its stdin
    landing: str = "got.bin"  # where its download lands in Job.work

    def row(self) -> str:
        return self.label.format(v=self.version())


def version_from(argv: list[str], pattern: str) -> Callable[[], str]:
    """The version a command prints (``?`` when it cannot be found)."""
    def version() -> str:
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return "?"
        found = re.search(pattern, out.stdout + out.stderr, re.M)
        return found.group(1) if found else "?"
    return version


def curl(*extra: str) -> Callable[[Job], list[str]]:
    def command(job: Job) -> list[str]:
        move = ["-T", "up.bin"] if job.direction == "up" else ["-o", "got.bin"]
        return ["curl", "-q", "-sS", "--max-time", str(TIMEOUT), *extra,
                "-u", f"{USER}:{PASSWORD}", *move, job.url]
    return command


def lftp(job: Job) -> list[str]:
    move = "put up.bin -o up.bin" if job.direction == "up" else "get down.bin -o got.bin"
    return ["lftp", "--norc", "-c", "; ".join((
        "set cmd:interactive no", f"set net:timeout {TIMEOUT}", "set net:max-retries 3",
        "set net:reconnect-interval-base 1", "set net:reconnect-interval-max 1",
        "set ftp:ssl-allow no", "set xfer:clobber on",
        f"open -u {USER},{PASSWORD} ftp://127.0.0.1:{job.port}", move))]


def wget(job: Job) -> list[str] | None:
    if job.direction == "up":
        return None
    return ["wget", "--no-config", "-nv", "-c", "--tries=3", f"--timeout={TIMEOUT}", "-O", "got.bin",
            job.login_url]


def ftplib_loop(job: Job) -> list[str]:
    return [sys.executable, __file__, "--ftplib-client", job.direction, str(job.port)]


def tnftp(job: Job) -> list[str]:
    if job.direction == "up":
        return ["tnftp", "-n", "-q", str(TIMEOUT), "-u", job.login_url, "up.bin"]
    return ["tnftp", "-n", "-q", str(TIMEOUT), "-o", "got.bin", job.login_url]


def inetutils_ftp(job: Job) -> list[str]:
    return ["inetutils-ftp", "-n", "-p", "-v", "127.0.0.1", str(job.port)]


def inetutils_script(job: Job) -> str:
    move = "put up.bin up.bin" if job.direction == "up" else "get down.bin got.bin"
    return f"user {USER} {PASSWORD}\nbinary\n{move}\nquit\n"


def ncftp(job: Job) -> list[str]:
    login = ["-u", USER, "-p", PASSWORD, "-P", str(job.port), "-t", str(TIMEOUT), "-V"]
    if job.direction == "up":
        return ["ncftpput", *login, "127.0.0.1", "/", "up.bin"]
    return ["ncftpget", *login, "127.0.0.1", ".", "/down.bin"]


CURL_VERSION = version_from(["curl", "--version"], r"^curl ([\d.]+)")
CLIENTS = (
    Client("curl", "curl {v}", "curl", CURL_VERSION, curl()),
    Client("curl-retry", "curl {v} --retry 2", "curl", CURL_VERSION, curl("--retry", "2")),
    Client("lftp", "lftp {v} (reconnect interval 1 s, max-retries 3)", "lftp",
           version_from(["lftp", "--version"], r"Version ([\d.]+)"), lftp),
    Client("wget", "wget {v} -c --tries=3", "wget",
           version_from(["wget", "--version"], r"Wget ([\d.]+)"), wget),
    Client("ftplib", "Python {v} ftplib in a loop: 3 tries, a new connection each", sys.executable,
           platform.python_version, ftplib_loop),
    Client("tnftp", "tnftp {v}", "tnftp",
           version_from(["dpkg-query", "-W", "-f", "${Version}", "tnftp"], r"^([\d.]+)"), tnftp),
    Client("inetutils-ftp", "inetutils ftp {v} (no timeout)", "inetutils-ftp",
           version_from(["inetutils-ftp", "--version"], r"inetutils\) ([\d.]+)"), inetutils_ftp,
           script=inetutils_script),
    Client("ncftp", "ncftpput / ncftpget {v}", "ncftpget",
           version_from(["ncftpget", "-v"], r"NcFTPGet ([\d.]+)"), ncftp, landing="down.bin"),
)


# --- one run


def payload(size: int) -> bytes:
    """Bytes that differ everywhere, so a shifted or short copy shows."""
    return b"".join(i.to_bytes(4, "big") for i in range(size // 4 + 1))[:size]


def run_one(client: Client, spec: str) -> str:
    """One client against one fault, on a server of its own: the cell."""
    with tempfile.TemporaryDirectory(prefix="client-matrix-") as tmp, \
            FaultServer(faults=[spec]) as server:
        work = Path(tmp) / "work"
        work.mkdir()
        job = Job(server.port, work, direction(spec))
        argv = client.command(job)
        if argv is None:
            return "n/a"
        if job.direction == "up":
            data, landed = payload(UPLOAD_SIZE), server.root / "up.bin"
            (work / "up.bin").write_bytes(data)
        else:
            data, landed = payload(DOWNLOAD_SIZE), work / client.landing
            (server.root / "down.bin").write_bytes(data)
        status = run_client(argv, work, client.script(job) if client.script else "", Path(tmp))
        sessions_ended(server)
        return cell(server.report(final=True), status, file_state(landed, data))


def run_client(argv: list[str], work: Path, stdin: str, home: Path) -> str:
    """Run it with no rc files and no proxies; its exit status as the cell shows it."""
    env = dict(os.environ, HOME=str(home), LC_ALL="C", LANG="C")
    for proxy in ("ftp_proxy", "FTP_PROXY", "all_proxy", "ALL_PROXY"):
        env.pop(proxy, None)
    try:
        proc = subprocess.run(argv, cwd=work, env=env, input=stdin, capture_output=True,
                              text=True, timeout=CLIENT_LIMIT)
    except subprocess.TimeoutExpired:
        return f"killed after {CLIENT_LIMIT} s"
    return f"exit {proc.returncode}"


def sessions_ended(server: FaultServer) -> None:
    """The client exited; the server may not have seen its last session close yet."""
    end = time.monotonic() + SESSIONS_END
    while server.sessions() and time.monotonic() < end:
        time.sleep(0.02)


def file_state(path: Path, data: bytes) -> str:
    """What is wrong with the file the client moved ("" when it is whole)."""
    if not path.exists():
        return "no file"
    got = path.read_bytes()
    if got == data:
        return ""
    if not got:
        return "empty file"
    if data.startswith(got):
        return f"{len(got)} of {len(data)} B"
    return "wrong bytes"


def cell(report: Report, status: str, file: str) -> str:
    accounts = report.accounts
    verdict = f"{accounts[0].reaction}, {accounts[0].outcome}" if accounts else "no fault fired"
    notes = [status, *([file] if file else [])]
    if len(accounts) > 1:
        notes.append(f"{len(accounts)} faults")
    return f"{verdict} ({'; '.join(notes)})"


# --- the table


def table(rows: list[tuple[str, list[str]]], specs: list[str], style: str) -> str:
    if style == "md":
        lines = ["| client | " + " | ".join(f"`{s}`" for s in specs) + " |",
                 "|---|" + "---|" * len(specs)]
        lines += [f"| {name} | " + " | ".join(cells) + " |" for name, cells in rows]
        return "\n".join(lines)
    width = max(map(len, specs))
    return "\n\n".join(name + "".join(f"\n  {s:<{width}}  {c}" for s, c in zip(specs, cells))
                       for name, cells in rows)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="client_matrix.py", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", metavar="NAMES", type=lambda text: text.split(","),
                        help=f"comma-separated, of {', '.join(c.key for c in CLIENTS)} "
                             "(default: every one installed)")
    parser.add_argument("--faults", metavar="SPEC", nargs="+", default=list(FAULTS),
                        help=f"fault specs, one per column (default: {' '.join(FAULTS)})")
    parser.add_argument("--format", choices=("md", "text"), default="md",
                        help="md: the README's table; text: one block per client (default: md)")
    parser.add_argument("--ftplib-client", nargs=2, metavar=("WAY", "PORT"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.ftplib_client:
        return ftplib_client(args.ftplib_client[0], int(args.ftplib_client[1]))
    keys = {c.key for c in CLIENTS}
    if args.clients and (unknown := set(args.clients) - keys):
        parser.error(f"unknown client(s): {', '.join(sorted(unknown))}")
    for spec in args.faults:
        try:
            direction(spec)
        except ValueError as err:
            parser.error(f"bad fault {spec!r}: {err}")

    rows = []
    for client in CLIENTS:
        if args.clients and client.key not in args.clients:
            continue
        if shutil.which(client.binary) is None:
            print(f"client_matrix.py: {client.binary} is not installed: no row for {client.key}",
                  file=sys.stderr)
            continue
        cells = []
        for spec in args.faults:
            cells.append(run_one(client, spec))
            print(f"{client.key} against {spec}: {cells[-1]}", file=sys.stderr, flush=True)
        rows.append((client.row(), cells))
    print(table(rows, args.faults, args.format))
    return 0


# --- the ftplib client


def ftplib_client(way: str, port: int, tries: int = 3) -> int:
    """Up to ``tries`` attempts, each on a new connection, 1 s apart: what a script that
    wraps ftplib in a simple retry loop does. Exit 0 when one attempt got its 226."""
    for attempt in range(tries):
        if attempt:
            time.sleep(1)
        try:
            with ftplib.FTP(timeout=TIMEOUT) as ftp:
                ftp.connect("127.0.0.1", port)
                ftp.login(USER, PASSWORD)
                if way == "up":
                    ftp.storbinary("STOR up.bin", io.BytesIO(Path("up.bin").read_bytes()))
                else:
                    got = bytearray()
                    ftp.retrbinary("RETR down.bin", got.extend)
                    Path("got.bin").write_bytes(got)
                ftp.quit()
            return 0
        except (ftplib.Error, OSError, EOFError) as err:
            print(f"attempt {attempt + 1}: {err}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
