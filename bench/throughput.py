"""Big transfers over loopback with curl: the headless server against bare pyftpdlib.

Variants, each a server process of its own: bare pyftpdlib, the headless server with no
rules, with four armed rules that match nothing (another point, a path= or a user= that
excludes the transfer, a command rule), and with 1,000 armed rules on other files at the
transfer's own points. After one warm-up transfer each, the variants are interleaved over
several rounds, their order rotated each round; the ratio of each round (variant / bare of
the same round) is kept, and the median of the rounds with their spread is reported.

And the limit below it all: the same file read locally (``dd``-style, 1 MiB reads: one
copy out of the page cache) and sent over a loopback TCP connection with ``sendfile()`` to a
reader doing nothing else (the kernel's two copies, with no FTP server in the way).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import threading
import time
from pathlib import Path

from common import (
    HOST, Server, curl, make_file, ratio_runs, rotations, spread,
)

ARMED = {  # workload -> four rules that the transfer is checked against and none matches
    "RETR": ["upload=451", "download=426,after=1000,path=*.iso", "download,rate=1000,user=nobody",
             "cmd:MKD=550"],
    "STOR": ["download=426", "upload=451,path=*.iso", "upload=426,after=1000,user=nobody",
             "cmd:DELE=550"],
}
OTHER_RULES = 1000
VARIANTS = ("bare", "headless", "4 rules", "1000 rules")


def phase(args, tmp: Path) -> list[dict]:
    big = make_file(tmp / "big.bin", args.retr_mib)
    src = make_file(tmp / "src.bin", args.stor_mib)
    rows = []
    for workload, mib, name, upload in (("STOR", args.stor_mib, "up.bin", src),
                                        ("RETR", args.retr_mib, "big.bin", None)):
        with contextlib.ExitStack() as stack:
            servers = {}
            for variant in VARIANTS:
                root = tmp / f"{workload}-{variant.replace(' ', '-')}"
                root.mkdir()
                if upload is None:
                    os.link(big, root / name)  # same inode: the same page cache for all
                kind = "bare" if variant == "bare" else "fault"
                faults = ARMED[workload] if variant == "4 rules" else []
                servers[variant] = Server(stack, kind, root, faults,
                                          OTHER_RULES if variant == "1000 rules" else 0)
            for server in servers.values():  # warm-up: first runs pay for cold caches
                curl(server.port, name, upload)
            rates = {v: [] for v in servers}
            cpus = {v: [] for v in servers}
            for _, order in rotations(list(servers), args.rounds):
                for variant in order:
                    server = servers[variant]
                    # each run starts alike: no earlier upload to truncate
                    if upload is not None:
                        (server.root / name).unlink(missing_ok=True)
                    os.sync()  # and no dirty pages of earlier runs (when --tmp is a disk)
                    before = server.cpu()
                    rates[variant].append(curl(server.port, name, upload))
                    cpus[variant].append((server.cpu() - before) * 1000)
        for root in tmp.glob(f"{workload}-*"):
            shutil.rmtree(root)
        rows.append({
            "workload": workload, "mib": mib, "runs": rates,
            "mbps": {v: spread(x) for v, x in rates.items()},
            "cpu_ms": {v: spread(x) for v, x in cpus.items()},
            "ratio": {v: spread(ratio_runs(rates[v], rates["bare"])) for v in rates if v != "bare"},
        })
    limits = kernel_limits(big, args.rounds)
    big.unlink()
    src.unlink()
    return rows, limits


def local_read(path: Path) -> float:
    """MB/s of reading the file in 1 MiB reads (dd if=FILE of=/dev/null bs=1M)."""
    buf = bytearray(1 << 20)
    t0 = time.perf_counter()
    with open(path, "rb", buffering=0) as f:
        total = 0
        while n := f.readinto(buf):
            total += n
    return total / (time.perf_counter() - t0) / 1e6


def loopback_sendfile(path: Path) -> float:
    """MB/s of sendfile() of the file over a loopback TCP connection to a reader that only
    reads (1 MiB recv_into): what the kernel can move without any FTP server in the way."""
    with socket.create_server((HOST, 0)) as listener:
        def send() -> None:
            conn, _ = listener.accept()
            with conn, open(path, "rb") as f:
                conn.sendfile(f)

        sender = threading.Thread(target=send)
        sender.start()
        buf = bytearray(1 << 20)
        view = memoryview(buf)
        with socket.create_connection(listener.getsockname()) as sock:
            t0 = time.perf_counter()
            total = 0
            while n := sock.recv_into(view):
                total += n
            elapsed = time.perf_counter() - t0
        sender.join()
    return total / elapsed / 1e6


def kernel_limits(big: Path, rounds: int) -> dict:
    reads, sends = [], []
    for _ in range(max(3, rounds)):
        reads.append(local_read(big))
        sends.append(loopback_sendfile(big))
    return {"local_read": spread(reads), "loopback_sendfile": spread(sends)}
