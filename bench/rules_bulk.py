"""Rules in bulk, in this process: N rules (10,000) added to a server's board one by one,
each told to the server as a rule event (as an add from the API or the console is), then
saved as a profile and loaded as ``ftpfault --profile`` does at start (the file read and
every rule armed on a new server's board)."""

from __future__ import annotations

import time
from pathlib import Path

from common import SetupError


def phase(args, tmp: Path) -> dict:
    """N rules added one by one, then saved and loaded as a profile; times in ms."""
    from tui.engine.profiles import load_profile, save_profile
    from tui.engine.server import FaultServer
    from tui.engine.settings import Settings

    settings = Settings(root=tmp / "rules", port=0, passive_ports=None)
    # distinct specs mostly, some twins (the board counts identical rules apart)
    specs = [f"upload=451,path=/d{i % 100}/f{i % (args.rules // 2 or 1)}.bin,times={i % 7 + 1}"
             for i in range(args.rules)]
    server = FaultServer(settings)  # bound, not serving: its board and its rule events
    try:
        slowest, began = 0.0, time.perf_counter()
        for spec in specs:
            t0 = time.perf_counter()
            server.board.add(spec, source="bench")
            slowest = max(slowest, time.perf_counter() - t0)
        adds = time.perf_counter() - began
        profile = save_profile(tmp / "rules.toml", server.board.rules())
    finally:
        server.stop()
    began = time.perf_counter()
    loaded = FaultServer(settings, rules=load_profile(profile).rules)
    load = time.perf_counter() - began
    loaded.stop()
    if len(loaded.board.rules()) != args.rules:
        raise SetupError(f"the profile of {args.rules} rules loaded {len(loaded.board.rules())}")
    return {"rules": args.rules, "adds_ms": adds * 1000, "slowest_add_ms": slowest * 1000,
            "load_ms": load * 1000, "profile_kib": profile.stat().st_size / 1024}
