"""Hundreds of sessions: idle ones logged in, a few transferring, NOOPs timed among them.

Per server (the headless server with ``--max-sessions`` set a little above what the phase
opens, and bare pyftpdlib with no limit, for comparison):

1. One client process opens IDLE sessions (500) and logs each in; the server's RSS before
   and after gives the memory per idle session.
2. Another process starts BUSY sessions (20), each a thread looping STOR and RETR of a
   256 KiB file.
3. Meanwhile the first one sends a NOOP on one idle session after another, every few
   milliseconds, and times each reply: NOOP p50 and p99 under that load.
4. Headless only: it then opens sessions up to the limit (all must get their 220: nothing
   refused below ``--max-sessions``), and one more, which must get exactly one reply, a
   421, and then the end of the connection.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import threading
import time
from pathlib import Path

from common import (
    HOST, WAIT, Server, SetupError, percentile, spawn, stop,
)
from flood import Control, pasv

NOOP_INTERVAL = 0.005  # seconds between two probes
MARGIN = 10  # sessions the limit leaves above what the phase holds


def holder(port: int, idle: int) -> None:
    """Child: open ``idle`` logged-in sessions, print how it went; then obey stdin lines:
    ``probe SECONDS`` (time NOOPs round robin), ``extra N`` (open N more, then one past the
    limit); each answered by one JSON line."""
    sessions: list[Control] = []
    for _ in range(idle):
        ctl = Control(port)
        ctl.login()
        sessions.append(ctl)
    print(json.dumps({"opened": len(sessions)}), flush=True)
    for line in sys.stdin:
        what, _, arg = line.strip().partition(" ")
        if what == "probe":
            latencies, end, i = [], time.monotonic() + float(arg), 0
            while time.monotonic() < end:
                ctl = sessions[i % len(sessions)]
                i += 1
                t0 = time.perf_counter()
                ctl.send("NOOP")
                ctl.expect("200")
                latencies.append(time.perf_counter() - t0)
                time.sleep(NOOP_INTERVAL)
            print(json.dumps({"latencies": latencies}), flush=True)
        elif what == "extra":
            print(json.dumps(open_to_limit(port, int(arg), sessions)), flush=True)


def open_to_limit(port: int, n: int, sessions: list) -> dict:
    """Open n more sessions (each must get its 220), then one more: what it was told."""
    refused_below = []
    for _ in range(n):
        try:
            sessions.append(Control(port))
        except (OSError, ConnectionError) as err:
            refused_below.append(str(err))
    sock = socket.create_connection((HOST, port), timeout=WAIT)
    received = b""
    with sock:
        while chunk := sock.recv(4096):
            received += chunk
    return {"refused_below": refused_below, "past_limit": received.decode(errors="replace")}


def busy(port: int, sessions: int, kib: int) -> None:
    """Child: ``sessions`` threads, each a session looping STOR+RETR of a file of its own,
    until stdin closes; print the transfers done."""
    data = os.urandom(kib * 1024)
    stopped = threading.Event()
    counts = [0] * sessions
    errors: list[str] = []
    ready = threading.Barrier(sessions + 1)

    def loop(i: int) -> None:
        try:
            ctl = Control(port)
            ctl.login()
            ready.wait()
            while not stopped.is_set():
                for command in (f"STOR busy{i}.bin", f"RETR busy{i}.bin"):
                    data_sock = pasv(ctl, [])
                    ctl.send(command)
                    ctl.expect(("125", "150"))
                    if command[0] == "S":
                        data_sock.sendall(data)
                    else:
                        while data_sock.recv(1 << 20):
                            pass
                    data_sock.close()
                    ctl.expect("226")
                    counts[i] += 1
        except (OSError, ConnectionError, threading.BrokenBarrierError) as err:
            errors.append(repr(err))
            ready.abort()

    threads = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(sessions)]
    for t in threads:
        t.start()
    try:
        ready.wait()
        print("ready", flush=True)
    except threading.BrokenBarrierError:
        print("failed", flush=True)
    sys.stdin.read()
    stopped.set()
    for t in threads:
        t.join(WAIT)
    print(json.dumps({"transfers": sum(counts), "errors": errors}), flush=True)


def measure(server: Server, args, check_limit: int | None) -> dict:
    with contextlib.ExitStack() as stack:
        warm = spawn("--sessions-holder", str(server.port), "--idle", "5")  # first sessions
        json.loads(warm.stdout.readline())  # pay for imports and caches: not per session
        stop(warm)
        rss0 = server.stats()["rss_kib"]
        hold = spawn("--sessions-holder", str(server.port), "--idle", str(args.idle))
        stack.callback(stop, hold)
        opened = json.loads(hold.stdout.readline() or "{}").get("opened")
        if opened != args.idle:
            raise SetupError(f"{server.kind}: only {opened} of {args.idle} idle sessions opened")
        rss1 = server.stats()["rss_kib"]
        load = spawn("--busy-client", str(server.port), "--sessions", str(args.busy), "--kib", "256")
        stack.callback(stop, load)
        if load.stdout.readline().strip() != "ready":
            raise SetupError(f"{server.kind}: the {args.busy} transferring sessions did not start")
        before = server.stats()
        hold.stdin.write(f"probe {args.sessions_seconds}\n")
        hold.stdin.flush()
        latencies = json.loads(hold.stdout.readline())["latencies"]
        after = server.stats()
        cpu = after["cpu"] - before["cpu"]
        load.stdin.close()
        done = json.loads(load.stdout.read().strip().splitlines()[-1])
        load.wait(WAIT)
        time.sleep(1.0)  # (a benchmark: let the server see those sessions close)
        if done["errors"]:
            raise SetupError(f"{server.kind}: a transferring session failed: {done['errors'][0]}")
        out = {
            "idle": args.idle, "busy": args.busy, "noops": len(latencies),
            "noop_p50_ms": percentile(latencies, 50) * 1000, "noop_p99_ms": percentile(latencies, 99) * 1000,
            "noop_max_ms": max(latencies) * 1000,
            "kib_per_session": (rss1 - rss0) / args.idle, "busy_transfers_per_s": done["transfers"] / args.sessions_seconds,
            "server_cpu_share": cpu / args.sessions_seconds,
            "gc_share": (after["gc_seconds"] - before["gc_seconds"]) / args.sessions_seconds,
            "gc_longest_ms": after["gc_longest"] * 1000,  # since the server started
        }
        if check_limit is not None:  # the busy sessions are gone: fill up to the limit again
            hold.stdin.write(f"extra {check_limit - args.idle}\n")
            hold.stdin.flush()
            out.update(json.loads(hold.stdout.readline()))
            out["limit"] = check_limit
    return out


def phase(args, tmp: Path) -> dict:
    limit = args.idle + args.busy + MARGIN
    results = {}
    with contextlib.ExitStack() as stack:
        for kind, name in (("fault", "headless"), ("bare", "bare")):
            root = tmp / f"sessions-{kind}"
            root.mkdir()
            server = Server(stack, kind, root, max_sessions=limit if kind == "fault" else 0)
            results[name] = measure(server, args, limit if kind == "fault" else None)
    return results
