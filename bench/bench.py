#!/usr/bin/env python3
"""Benchmark: the fault server against bare pyftpdlib, side by side, and what the console costs.

One run measures, each phase against a bare pyftpdlib server run beside it (each server in a
process of its own: a whole interpreter and GIL, as in real use; runs interleaved over
rounds, their order rotated each round; the median of the rounds' ratios and their spread):

1. big transfers (curl over loopback, tmpfs): STOR 128 MiB and RETR 256 MiB; the headless
   server with no rules, with four armed rules that match nothing, and with 1,000 armed
   rules on other files; MB/s and the server's CPU per transfer. Beside them, the kernel's
   own limit: the file read locally (dd-style) and sent over loopback TCP with sendfile().
2. a flood of small transfers: 8 client processes looping STOR and RETR of 4 KiB on raw
   sockets for 20 s (in rounds); transfers/s, server CPU per transfer, and the p99 time
   from a client's command to its final reply.
3. 500 idle logged-in sessions plus 20 transferring: NOOP p99 among them, memory per idle
   session, nothing refused below --max-sessions and a 421 past it.
4. the real console in tmux beside ``ftpfault --headless``: throughput ratio, and the
   console's CPU over headless while a throttled download streams, and while idle.
5. the console under a flood (run_test): key latencies, RSS, events drained, drops.
6. 10,000 rules added one by one, and a 10,000-rule profile loaded.
7. a markdown summary: every figure with its target and PASS/MISS.

Usage (from the repository root, with the package installed or not):

    python bench/bench.py            # the full run: about 3 minutes
    python bench/bench.py --quick    # a short development run: under a minute
    python bench/bench.py --only flood,sessions    # some phases only

Numbers on a shared machine are noisy: trust medians over rounds and several runs, and the
server's CPU per transfer over its MB/s. Exit status: 0 whatever the figures (a benchmark,
not a test); 1 on a setup error (curl or tmux missing, a server that does not start, a
transfer that fails).

The script runs itself for its children (internal modes, below): a server
(``--serve bare|fault``), flood, session and console clients, the console phase.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout too

from common import SetupError, serve  # noqa: E402  (after the path is set)

PHASES = ("throughput", "flood", "sessions", "console-cost", "console-flood", "rules")
QUICK = {  # --quick: the same phases, shorter
    "retr_mib": 64, "stor_mib": 32, "rounds": 3, "flood_seconds": 6.0, "flood_rounds": 2,
    "idle": 200, "busy": 10, "sessions_seconds": 3.0, "console_rounds": 2,
    "console_cpu_rounds": 1, "console_idle_seconds": 3.0, "stream_seconds": 3.0,
    "console_flood_seconds": 4.0, "presses": 3, "rules": 2000,
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="a short run for development: smaller files, fewer rounds, shorter floods "
                        "(" + ", ".join(f"{k.replace('_', '-')}={v}" for k, v in QUICK.items()) + ")")
    p.add_argument("--only", default=",".join(PHASES), metavar="PHASE,...",
                   help=f"comma-separated phases to run (default all: {','.join(PHASES)})")
    big = p.add_argument_group("1. big transfers")
    big.add_argument("--retr-mib", type=int, default=256, help="size of the RETR file (default 256)")
    big.add_argument("--stor-mib", type=int, default=128, help="size of the STOR file (default 128)")
    big.add_argument("--rounds", type=int, default=9, help="runs per server variant (default 9)")
    shm = Path("/dev/shm")
    big.add_argument("--tmp", type=Path, default=shm if os.access(shm, os.W_OK) else None,
                     help="where the served files live (default /dev/shm when writable: memory, "
                          "so disk writeback noise stays out of the ratios)")
    flood = p.add_argument_group("2. the flood of small transfers (and 5. the console under one)")
    flood.add_argument("--clients", type=int, default=8, help="flood client processes (default 8)")
    flood.add_argument("--kib", type=int, default=4, help="size of each flood transfer (default 4)")
    flood.add_argument("--flood-seconds", type=float, default=20.0,
                       help="flood time per server variant, over all rounds (default 20)")
    flood.add_argument("--flood-rounds", type=int, default=4,
                       help="rounds the flood time is split into (default 4)")
    sess = p.add_argument_group("3. sessions")
    sess.add_argument("--idle", type=int, default=500, help="idle logged-in sessions (default 500)")
    sess.add_argument("--busy", type=int, default=20, help="transferring sessions beside them (default 20)")
    sess.add_argument("--sessions-seconds", type=float, default=10.0,
                      help="how long NOOPs are timed (default 10)")
    cost = p.add_argument_group("4. the console's cost (tmux)")
    cost.add_argument("--console-rounds", type=int, default=5,
                      help="RETR+STOR rounds per server (default 5)")
    cost.add_argument("--console-cpu-rounds", type=int, default=2,
                      help="throttled downloads per server (default 2)")
    cost.add_argument("--stream-seconds", type=float, default=10.0,
                      help="length of each throttled download (default 10)")
    cost.add_argument("--console-idle-seconds", type=float, default=10.0,
                      help="how long idle CPU is counted (default 10)")
    con = p.add_argument_group("5. the console under a flood")
    con.add_argument("--console-flood-seconds", type=float, default=10.0, help="flood duration (default 10)")
    con.add_argument("--presses", type=int, default=10, help="arm/disarm pairs (default 10)")
    p.add_argument("--rules", type=int, default=10_000, help="6. rules added, and in the profile (default 10000)")
    hidden = {"help": argparse.SUPPRESS}  # internal modes: the script runs itself (see above)
    p.add_argument("--serve", choices=("bare", "fault"), **hidden)
    p.add_argument("--root", type=Path, **hidden)
    p.add_argument("--fault", action="append", default=[], **hidden)
    p.add_argument("--other-rules", type=int, default=0, **hidden)
    p.add_argument("--max-sessions", type=int, **hidden)
    for mode in ("--flood-client", "--console-client", "--sessions-holder", "--busy-client"):
        p.add_argument(mode, type=int, metavar="PORT", **hidden)
    p.add_argument("--sessions", type=int, default=20, **hidden)
    p.add_argument("--name", default="flood.bin", **hidden)
    p.add_argument("--console", type=Path, metavar="ROOT", **hidden)
    args = p.parse_args(argv)
    if args.quick:
        for key, value in QUICK.items():
            if getattr(args, key) == p.get_default(key):
                setattr(args, key, value)
    args.phases = [x.strip() for x in args.only.split(",") if x.strip()]
    unknown = sorted(set(args.phases) - set(PHASES))
    if unknown:
        p.error(f"unknown phase {unknown[0]!r} (known: {', '.join(PHASES)})")
    return args


def versions() -> str:
    """What was measured: the versions, and the commit of the tree (``+`` when modified)."""
    from importlib.metadata import version

    def run(*cmd: str) -> str:
        return subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).parent).stdout

    curl_v = run("curl", "--version").split()[1]
    commit = run("git", "rev-parse", "--short", "HEAD").strip() or "unknown"
    dirty = "+" if run("git", "status", "--porcelain", "--", "../tui", ".").strip() else ""
    return (f"tui at {commit}{dirty}, Python {platform.python_version()}, pyftpdlib {version('pyftpdlib')}, "
            f"Textual {version('textual')}, curl {curl_v}, {os.cpu_count()} CPUs, {platform.machine()}")


def more_files() -> None:
    """Hundreds of sessions need more descriptors than a soft limit of 1024 may allow."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))


def child(args: argparse.Namespace) -> bool:
    """Run an internal mode if one is asked for; False when none is."""
    if args.serve:
        serve(args.serve, args.root, args.fault, args.other_rules, args.max_sessions)
    elif args.flood_client:
        from flood import client
        client(args.flood_client, args.name, args.kib)
    elif args.console_client:
        from console_flood import client
        client(args.console_client, args.name, args.kib)
    elif args.sessions_holder:
        from sessions import holder
        holder(args.sessions_holder, args.idle)
    elif args.busy_client:
        from sessions import busy
        busy(args.busy_client, args.sessions, args.kib)
    elif args.console:
        from console_flood import console
        print(json.dumps(asyncio.run(console(args))))
    else:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    more_files()
    try:
        if child(args):
            return 0
        for tool in ("curl", *(["tmux"] if "console-cost" in args.phases else [])):
            if shutil.which(tool) is None:
                raise SetupError(f"{tool} is not installed")
        print(f"ftpfault benchmark{' (--quick)' if args.quick else ''}: {versions()}", flush=True)
        results: dict = {}
        with contextlib.ExitStack() as stack:
            tmp = Path(tempfile.mkdtemp(prefix="ftpfault-bench-", dir=args.tmp))
            stack.callback(shutil.rmtree, tmp, ignore_errors=True)
            for name in args.phases:
                print(f"{name} ...", flush=True)
                if name == "throughput":
                    import throughput
                    results[name] = throughput.phase(args, tmp)
                elif name == "flood":
                    import flood
                    results[name] = flood.phase(args, tmp)
                elif name == "sessions":
                    import sessions
                    results[name] = sessions.phase(args, tmp)
                elif name == "console-cost":
                    import console_cost
                    results[name] = console_cost.phase(args, tmp)
                elif name == "console-flood":
                    import console_flood
                    results[name] = console_flood.phase(args, tmp, stack)
                elif name == "rules":
                    import rules_bulk
                    results[name] = rules_bulk.phase(args, tmp)
        import summary
        summary.report(args, results)
        return 0
    except SetupError as err:
        print(f"bench: error: {err}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, asyncio.CancelledError):
        return 130


if __name__ == "__main__":
    sys.exit(main())
