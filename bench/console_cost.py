"""What the console costs the server it hosts: the real console in tmux (160x45) and the
headless server, side by side in one run.

- Throughput: curl RETR and STOR against each, alternating, rounds rotated; the ratio of
  the medians (console / headless). The console draws while bytes flow; the ratio says how
  much that slows the server down.
- CPU: the CPU time (ticks of the whole process, from /proc) of each over one throttled
  download that streams progress for about ten seconds, and of the console while idle.

Used by bench.py (``--console-rounds``); runs on Linux with tmux and curl. The headless
server here is ``ftpfault --headless`` itself (its log lines go to /dev/null), so the
ratio is the console's cost over the other way users run the same engine.
"""

from __future__ import annotations

import os
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import HOST, PASSWORD, USER, curl, ticks
from common import SetupError as Failed  # (the measurement cannot be made)

REPO = Path(__file__).resolve().parent.parent
TICKS = os.sysconf("SC_CLK_TCK")
STREAM_RATE = 20_000_000  # bytes per second of the throttled download
STREAM_SECONDS = 10


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_ready(port: int) -> None:
    end = time.monotonic() + 30
    while subprocess.run(["curl", "-s", "-o", os.devnull, f"ftp://{USER}:{PASSWORD}@{HOST}:{port}/"]).returncode:
        if time.monotonic() > end:
            raise Failed(f"no FTP server came up on port {port}")
        time.sleep(0.1)


class Servers:
    """The console in tmux and the headless server, each with its own root and port."""

    def __init__(self, tmp: Path, faults: list[str]) -> None:
        self.socket = f"ftpfault-bench-{os.getpid()}"
        self.roots = {"console": tmp / "console-root", "headless": tmp / "headless-root"}
        self.ports = {kind: free_port() for kind in self.roots}
        for root in self.roots.values():
            root.mkdir(parents=True, exist_ok=True)
        flags = [f"--fault={f}" for f in faults]
        command = [sys.executable, "-m", "tui", "--port", str(self.ports["console"]),
                   "--root", str(self.roots["console"]), *flags]
        # Textual draws on stderr: it stays on the terminal
        subprocess.run(["tmux", "-L", self.socket, "new-session", "-d", "-x", "160", "-y", "45",
                        f"cd {shlex.quote(str(REPO))} && " + " ".join(map(shlex.quote, command))], check=True)
        self.headless = subprocess.Popen(
            [sys.executable, "-m", "tui", "--headless", "--port", str(self.ports["headless"]),
             "--root", str(self.roots["headless"]), *flags],
            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        for port in self.ports.values():
            wait_ready(port)
        found = subprocess.run(["pgrep", "-f", f"^{sys.executable} -m tui --port {self.ports['console']} "],
                               capture_output=True, text=True).stdout.split()
        if not found:
            raise Failed("the console's process was not found")
        self.pids = {"console": int(found[0]), "headless": self.headless.pid}

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)
        self.headless.terminate()
        self.headless.wait(10)


def throughput(tmp: Path, big: Path, src: Path, rounds: int) -> dict:
    servers = Servers(tmp, [])
    try:
        for root in servers.roots.values():
            os.link(big, root / "big.bin")
        runs: dict[str, dict[str, list[float]]] = {w: {k: [] for k in servers.ports} for w in ("RETR", "STOR")}
        kinds = list(servers.ports)
        for kind in kinds:  # warm-up
            curl(servers.ports[kind], "big.bin")
        for r in range(rounds):
            for kind in kinds[r % 2:] + kinds[:r % 2]:
                port = servers.ports[kind]
                runs["RETR"][kind].append(curl(port, "big.bin"))
                (servers.roots[kind] / "up.bin").unlink(missing_ok=True)
                runs["STOR"][kind].append(curl(port, "up.bin", src))
        return {w: {"runs": k, "median": {kind: statistics.median(x) for kind, x in k.items()}}
                for w, k in runs.items()}
    finally:
        servers.close()


def cpu(tmp: Path, rounds: int, idle_seconds: float, stream_seconds: float = STREAM_SECONDS) -> dict:
    """CPU ticks of each over throttled downloads (``rounds`` each, alternating), and of
    each while idle; as shares of one core."""
    servers = Servers(tmp, [f"download,rate={STREAM_RATE},path=stream.bin"])
    try:
        size = int(STREAM_RATE * stream_seconds)
        for root in servers.roots.values():
            with open(root / "stream.bin", "wb") as f:
                f.truncate(size)
        time.sleep(2)  # (a benchmark, not a test: let the console finish starting)
        before = {kind: ticks(pid) for kind, pid in servers.pids.items()}
        time.sleep(idle_seconds)
        idle = {kind: (ticks(pid) - before[kind]) / TICKS / idle_seconds
                for kind, pid in servers.pids.items()}
        streamed: dict[str, list[float]] = {kind: [] for kind in servers.ports}
        kinds = list(servers.ports)
        for r in range(rounds):
            for kind in kinds[r % 2:] + kinds[:r % 2]:
                before_ticks, t0 = ticks(servers.pids[kind]), time.monotonic()
                curl(servers.ports[kind], "stream.bin")
                elapsed = time.monotonic() - t0
                streamed[kind].append((ticks(servers.pids[kind]) - before_ticks) / TICKS / elapsed)
        over = [c - h for c, h in zip(streamed["console"], streamed["headless"])]
        return {"idle_share": idle, "stream_share": streamed, "over_share": over,
                "stream_seconds": stream_seconds, "stream_rate": STREAM_RATE,
                "idle_seconds": idle_seconds}
    finally:
        servers.close()


def phase(args, tmp: Path) -> dict:
    """The console's throughput beside the headless server's, and its CPU over headless."""
    from common import make_file

    root = tmp / "console-cost"
    root.mkdir()
    big = make_file(root / "big.bin", args.retr_mib)
    src = make_file(root / "src.bin", args.stor_mib)
    try:
        rates = throughput(root, big, src, args.console_rounds)
    finally:
        big.unlink()
        src.unlink()
    ratios = {w: [c / h for c, h in zip(r["runs"]["console"], r["runs"]["headless"])]
              for w, r in rates.items()}
    return {"throughput": rates, "ratios": ratios,
            "cpu": cpu(root, args.console_cpu_rounds, args.console_idle_seconds, args.stream_seconds)}
