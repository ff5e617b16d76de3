"""Real command-line clients (curl, lftp, wget, tnftp, inetutils ftp) run as subprocesses,
what the server saw of them, and the client report of the run.

Shared by the test modules that pin down client behaviour (tests/clients/); see
test_lftp.py for what lftp does after a fault and why the uploads there stay small.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tui.engine.report import Report
from tui.engine.server import FaultServer
from tui.engine.settings import Settings

from .servers import PASSWORD, USER, Recorder, run_ftpfault, wait_until

CLIENT_TIMEOUT = 30  # seconds a client subprocess may run before the test fails
_runs = itertools.count(1)


def binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed")
    return path


def _env(work: Path) -> dict[str, str]:
    """No rc files, no proxies, a fixed locale: the client behaves the same everywhere."""
    env = dict(os.environ)
    env.update(HOME=str(work.parent / "home"), LC_ALL="C", LANG="C")
    Path(env["HOME"]).mkdir(exist_ok=True)
    for proxy in ("ftp_proxy", "FTP_PROXY", "all_proxy", "ALL_PROXY"):
        env.pop(proxy, None)
    return env


def run_client(argv: list[str], work: Path, script: str | None = None
               ) -> subprocess.CompletedProcess[str]:
    """Run a client; ``script`` is typed on its stdin (else it gets none)."""
    stdin = {"input": script} if script is not None else {"stdin": subprocess.DEVNULL}
    return subprocess.run(
        argv, cwd=work, env=_env(work), **stdin,
        capture_output=True, text=True, timeout=CLIENT_TIMEOUT,
    )


def url(server, name: str = "") -> str:
    return f"ftp://127.0.0.1:{server.port}/{name}"


def login_url(server, name: str = "") -> str:
    """For clients that take the login only in the URL (wget, tnftp)."""
    return f"ftp://{USER}:{PASSWORD}@127.0.0.1:{server.port}/{name}"


def curl(work: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """curl without ~/.curlrc (-q), quiet but with errors (-sS), logged in."""
    return run_client(
        [binary("curl"), "-q", "-sS", "--max-time", "20", "-u", f"{USER}:{PASSWORD}", *args],
        work,
    )


def curl_error(code: int) -> str:
    """curl 7.88's message for a final reply that is neither 226 nor 250."""
    return f"curl: (18) server did not report OK, got {code}"


def wget(work: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """wget without ~/.wgetrc, terse but with errors (-nv)."""
    return run_client([binary("wget"), "--no-config", "-nv", *args], work)


def tnftp(work: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """tnftp (NetBSD ftp) without auto-login (-n): the login is in the URL."""
    return run_client([binary("tnftp"), "-n", *args], work)


def inetutils_ftp(server, work: Path, *commands: str) -> subprocess.CompletedProcess[str]:
    """GNU inetutils ftp in passive mode (-p), its commands typed on stdin. It has no
    timeout of its own: only CLIENT_TIMEOUT bounds it."""
    script = "\n".join((f"user {USER} {PASSWORD}", *commands, "quit")) + "\n"
    return run_client([binary("inetutils-ftp"), "-n", "-p", "-v", "127.0.0.1", str(server.port)],
                      work, script)


class LftpRun:
    def __init__(self, proc: subprocess.CompletedProcess[str], trace: Path, elapsed: float):
        self.returncode = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.trace = trace.read_text(errors="replace") if trace.exists() else ""
        self.elapsed = elapsed

    def __repr__(self) -> str:  # shown by pytest when an assertion on a run fails
        return (f"LftpRun(rc={self.returncode}, {self.elapsed:.2f} s, stdout={self.stdout!r}, "
                f"stderr={self.stderr!r})")


def lftp(server, work: Path, commands: str, retries: int = 1, settings: str = "") -> LftpRun:
    """Run an lftp script, bounded and non-interactive, with its protocol trace in a file
    (stderr keeps only what a user sees)."""
    trace = work.parent / f"lftp-trace-{next(_runs)}.log"
    script = "; ".join(part for part in (
        "set cmd:fail-exit yes",
        "set cmd:interactive no",
        f"set net:max-retries {retries}",
        "set net:reconnect-interval-base 0",  # reconnect at once (put after a 426)
        "set net:reconnect-interval-max 0",
        "set net:timeout 5",
        "set ftp:passive-mode on",
        "set ftp:ssl-allow no",
        "set xfer:clobber on",
        "set cache:enable no",
        settings,
        f'debug -o "{trace}" 9',
        f"open -u {USER},{PASSWORD} ftp://127.0.0.1:{server.port}",
        commands,
    ) if part)
    start = time.monotonic()
    proc = run_client([binary("lftp"), "--norc", "-c", script], work)
    return LftpRun(proc, trace, time.monotonic() - start)


# --- what the server saw


def settle(recorder: Recorder) -> None:
    """Wait until every session the client opened has closed, so all its events are in."""
    wait_until(
        lambda: (opened := len(recorder.of("session.open"))) > 0
        and len(recorder.of("session.close")) == opened,
        what="the client's sessions to close",
    )


def commands(recorder: Recorder, name: str) -> list[str]:
    return [e.arg for e in recorder.of("command", command=name)]


def assert_one_final_reply_per_command(recorder: Recorder) -> None:
    """The server's side of the story: in each session the greeting and every command got
    exactly one final (2xx-5xx) reply, and no reply came unasked: a stray 226 after a
    fault reply would show here (unless a rule's extra= asked for it: that event says so)."""
    sessions = sorted({e.session for e in recorder.of("session.open")})
    assert sessions
    for session in sessions:
        owed = 1  # the greeting
        for event in recorder.events:
            if event.session != session:
                continue
            if event.kind == "command":
                owed += 1
            elif event.kind == "reply" and event.code >= 200 and not event.unsolicited:
                owed -= 1
                assert owed >= 0, f"session {session}: unsolicited {event.code} {event.message}"
        assert owed == 0, f"session {session}: {owed} reply(ies) missing"


def transfers(recorder: Recorder, direction: str) -> list[tuple[int, int]]:
    """(final code, bytes) of each transfer in that direction, in order."""
    return [(t.code, t.bytes) for t in recorder.of("transfer", direction=direction)]


def final_report(server: FaultServer, recorder: Recorder, settings: Settings) -> Report:
    """The report once the client's sessions ended, every window closed; and the same run's
    journal, read offline by ``ftpfault report --format json``, gives the same JSON. Stops
    the server, so the journal is complete."""
    settle(recorder)
    live = server.report(final=True)
    server.stop()
    offline = run_ftpfault("report", "--format", "json", "--window", str(settings.report_window),
                           str(settings.journal))
    assert (offline.returncode, offline.stderr) == (0, ""), offline
    assert json.loads(offline.stdout) == live.to_dict()
    return live
