"""The bench's report: each phase's figures, then one markdown table of every target."""

from __future__ import annotations

import statistics

TARGETS = {
    "STOR": 1.25, "RETR": 1.0,  # headless / bare MB/s, with and without rules that match nothing
    "flood_rate": 1.1, "flood_p99": 1.2,  # transfers/s ratio (at least), p99 ratio (at most)
    "noop_p99_ms": 10.0,
    "console_ratio": 0.95, "console_over_share": 0.02,
    "key_ms": 100.0, "rss_mib": 150.0, "rules_ms": 1000.0,
}
LATENCIES = {  # figure -> (line in the flood table, row in the summary)
    "arm_ms": ("u arms:    key -> first upload that got the fault",
               "key `u` to the first upload that got the fault"),
    "shown_on_ms": ("u arms:    key -> panel reads ARMED", "key `u` to the panel reading ARMED"),
    "disarm_ms": ("u disarms: key -> 226 on an upload begun after",
                  "key `u` again to a 226 on an upload begun after it"),
    "shown_off_ms": ("u disarms: key -> panel reads off", "key `u` again to the panel reading off"),
}


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def rng(s: tuple, fmt: str = ".3f") -> str:
    """A (median, min, max) as ``median [min-max]``."""
    return f"{s[0]:{fmt}} [{s[1]:{fmt}}-{s[2]:{fmt}}]"


def report(args, results: dict) -> None:
    rows: list[tuple[str, str, str, str]] = []  # the summary: figure, value, target, result
    if "throughput" in results:
        rows += throughput(args, *results["throughput"])
    if "flood" in results:
        rows += flood(results["flood"])
    if "sessions" in results:
        rows += sessions(results["sessions"])
    if "console-cost" in results:
        rows += console_cost(results["console-cost"])
    if "console-flood" in results:
        rows += console_flood(args, results["console-flood"])
    if "rules" in results:
        rows += rules(results["rules"])
    print("\n## Summary\n")
    print("| figure | value: median [min-max] of the rounds | target | result |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


def throughput(args, tables: list[dict], limits: dict) -> list:
    print(f"\n## 1. Big transfers over loopback (curl; {args.rounds} interleaved rounds; "
          "median [min-max])\n")
    print(f"{'':<10} {'variant':<11} {'MB/s':>22} {'/ bare':>24} {'server CPU ms':>24}")
    out = []
    for t in tables:
        name = f"{t['workload']} {t['mib']} MiB"
        for i, v in enumerate(t["mbps"]):
            ratio = rng(t["ratio"][v]) if v in t["ratio"] else ""
            print(f"{name if i == 0 else '':<10} {v:<11} {rng(t['mbps'][v], '.0f'):>22} {ratio:>24} "
                  f"{rng(t['cpu_ms'][v], '.0f'):>24}")
        target = TARGETS[t["workload"]]
        for v, label in (("headless", "no rules"), ("4 rules", "4 armed rules that match nothing"),
                         ("1000 rules", "1,000 armed rules on other files")):
            r = t["ratio"][v]
            out.append((f"{name}: headless ({label}) / bare pyftpdlib, MB/s", rng(r),
                        f">= {target}", verdict(r[0] >= target)))
        cpu = t["cpu_ms"]
        out.append((f"{name}: server CPU ms per transfer, bare / headless / 4 rules / 1,000 rules",
                    " / ".join(f"{cpu[v][0]:.0f}" for v in cpu), "", ""))
    read, sendfile = limits["local_read"], limits["loopback_sendfile"]
    print("runs, MB/s in run order:")
    for t in tables:
        for v, xs in t["runs"].items():
            print(f"  {t['workload']:<5} {v:<11}" + "".join(f"{x:7.0f}" for x in xs))
    print(f"\nthe kernel's limit for the RETR file: read locally (1 MiB reads) {rng(read, '.0f')} MB/s; "
          f"sendfile() over loopback TCP to a reader that only reads {rng(sendfile, '.0f')} MB/s")
    retr = next((t for t in tables if t["workload"] == "RETR"), None)
    if retr is not None:
        share = retr["mbps"]["bare"][0] / sendfile[0]
        print(f"bare pyftpdlib's RETR is {share:.2f} of that loopback sendfile() rate")
        out.append(("RETR: bare pyftpdlib / a plain loopback sendfile() of the same file (the kernel's copy)",
                    f"{share:.2f} ({retr['mbps']['bare'][0]:.0f} / {sendfile[0]:.0f} MB/s; local read "
                    f"{read[0]:.0f} MB/s)", "", ""))
    return out


def flood(f: dict) -> list:
    n = len(f["rounds"]["bare"])
    print(f"\n## 2. Flood of small transfers ({f['clients']} client processes, STOR+RETR of "
          f"{f['kib']} KiB, raw sockets, {f['seconds']:g} s per variant in {n} rounds; median [min-max])\n")
    print(f"{'variant':<11} {'transfers/s':>20} {'/ bare':>22} {'CPU ms/transfer':>20} "
          f"{'p50 ms':>8} {'p99 ms':>18} {'p99 / bare':>22}")
    for v in ("bare", "headless", "1000 rules"):
        x = f[v]
        ratio = rng(x["rate_ratio"]) if v != "bare" else ""
        p99r = rng(x["p99_ratio"]) if v != "bare" else ""
        print(f"{v:<11} {rng(x['rate'], '.0f'):>20} {ratio:>22} {rng(x['cpu_ms'], '.3f'):>20} "
              f"{x['p50_ms'][0]:8.2f} {rng(x['p99_ms'], '.2f'):>18} {p99r:>22}")
    out = []
    for v, label in (("headless", "no rules"), ("1000 rules", "1,000 armed rules on other files")):
        r, p = f[v]["rate_ratio"], f[v]["p99_ratio"]
        out.append((f"flood of 4 KiB STOR+RETR: transfers/s headless ({label}) / bare", rng(r),
                    f">= {TARGETS['flood_rate']}", verdict(r[0] >= TARGETS["flood_rate"])))
        out.append((f"flood: p99 command-to-reply time, headless ({label}) / bare",
                    f"{rng(p)} ({f[v]['p99_ms'][0]:.2f} / {f['bare']['p99_ms'][0]:.2f} ms)",
                    f"<= {TARGETS['flood_p99']}", verdict(p[0] <= TARGETS["flood_p99"])))
    out.append(("flood: server CPU ms per transfer, bare / headless / 1,000 rules",
                " / ".join(f"{f[v]['cpu_ms'][0]:.3f}" for v in ("bare", "headless", "1000 rules")), "", ""))
    return out


def sessions(s: dict) -> list:
    h = s["headless"]
    print(f"\n## 3. Sessions ({h['idle']} idle and logged in, {h['busy']} transferring 256 KiB STOR+RETR)\n")
    print(f"{'server':<9} {'KiB/idle session':>17} {'NOOPs':>6} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} "
          f"{'busy transfers/s':>17} {'server CPU':>10} {'in GC':>6} {'longest GC ms':>13}")
    for name, x in s.items():
        print(f"{name:<9} {x['kib_per_session']:17.1f} {x['noops']:6d} {x['noop_p50_ms']:7.2f} "
              f"{x['noop_p99_ms']:7.2f} {x['noop_max_ms']:7.1f} {x['busy_transfers_per_s']:17.0f} "
              f"{x['server_cpu_share']:10.0%} {x['gc_share']:6.1%} {x['gc_longest_ms']:13.1f}")
    past = h["past_limit"].strip()
    replies = [line for line in past.splitlines() if line[:3].isdigit()]
    print(f"\nheadless --max-sessions {h['limit']}: {h['limit'] - h['idle']} more opened on top of the "
          f"{h['idle']} idle, {len(h['refused_below'])} refused; one past the limit was told {past!r}, "
          "then the connection ended")
    one_421 = len(replies) == 1 and replies[0].startswith("421 ")
    p99 = h["noop_p99_ms"]
    return [
        (f"{h['idle']} idle sessions + {h['busy']} transferring: NOOP p99 (headless; bare "
         f"{s['bare']['noop_p99_ms']:.2f} ms)", f"{p99:.2f} ms (p50 {h['noop_p50_ms']:.2f}, max "
         f"{h['noop_max_ms']:.1f})", f"< {TARGETS['noop_p99_ms']:.0f} ms", verdict(p99 < TARGETS["noop_p99_ms"])),
        ("memory per idle logged-in session, headless (bare)",
         f"{h['kib_per_session']:.1f} KiB ({s['bare']['kib_per_session']:.1f} KiB)", "recorded", ""),
        (f"sessions refused below --max-sessions {h['limit']}", str(len(h["refused_below"])), "0",
         verdict(not h["refused_below"])),
        ("one session past --max-sessions: its replies", f"{past!r}", "one 421", verdict(one_421)),
    ]


def console_cost(c: dict) -> list:
    t, cpu = c["throughput"], c["cpu"]
    n = len(c["ratios"]["RETR"])
    print(f"\n## 4. The console's cost (the real console in tmux 160x45 beside ftpfault --headless; "
          f"{n} rounds; median [min-max])\n")
    out = []
    for w in ("RETR", "STOR"):
        m = t[w]["median"]
        r = statistics.median(c["ratios"][w]), min(c["ratios"][w]), max(c["ratios"][w])
        print(f"{w}: console {m['console']:.0f} MB/s, headless {m['headless']:.0f} MB/s, ratio {rng(r)}")
        out.append((f"{w}: console in tmux / headless, MB/s", rng(r), f">= {TARGETS['console_ratio']}",
                    verdict(r[0] >= TARGETS["console_ratio"])))
    over = cpu["over_share"]
    ov = statistics.median(over), min(over), max(over)
    stream = cpu["stream_share"]
    rate = cpu["stream_rate"] / 1e6
    print(f"throttled download ({rate:.0f} MB/s for {cpu['stream_seconds']:g} s, {len(over)} each): "
          f"console {statistics.median(stream['console']):.1%} of a core, headless "
          f"{statistics.median(stream['headless']):.1%}; the console's extra {rng(ov, '.1%')}")
    idle = cpu["idle_share"]
    print(f"idle for {cpu['idle_seconds']:g} s: console {idle['console']:.2%} of a core, "
          f"headless {idle['headless']:.2%}")
    out.append((f"CPU of the console over headless while a {rate:.0f} MB/s download streams, share of a core",
                rng(ov, ".1%"), f"< {TARGETS['console_over_share']:.0%}",
                verdict(ov[0] < TARGETS["console_over_share"])))
    out.append(("CPU of the console while idle (headless), share of a core",
                f"{idle['console']:.2%} ({idle['headless']:.2%})", "near 0", ""))
    return out


def console_flood(args, con: dict) -> list:
    secs = con["seconds"]
    drained = con["events"] - con["dropped"]
    print(f"\n## 5. Console under a flood ({con['clients']} client processes looping STOR+RETR of "
          f"{args.kib} KiB with ftplib, {secs:.1f} s)\n")
    print(f"flood    {con['transfers'] / secs:.0f} transfers/s at the server ({con['cycles']} STOR+RETR "
          f"cycles by the clients in all), {con['client_faults']} faults seen by the clients, "
          f"client errors: {', '.join(con['client_errors']) or 'none'}")
    print(f"events   {drained} drained by the console ({drained / secs:.0f}/s), {con['dropped']} dropped")
    print(f"RSS      {con['rss_start_mib']:.1f} MiB when the flood began, {con['rss_peak_mib']:.1f} MiB peak\n")
    print(f"{'latency, ms':<50} {'median':>6} {'max':>6}  all")
    out = []
    for key, (line, row) in LATENCIES.items():
        xs = con[key]
        print(f"{line:<50} {statistics.median(xs):6.1f} {max(xs):6.1f}  " + " ".join(f"{x:.0f}" for x in xs))
        out.append((f"{row}, under the flood (median / max of {len(xs)})",
                    f"{statistics.median(xs):.0f} / {max(xs):.0f} ms", f"< {TARGETS['key_ms']:.0f} ms",
                    verdict(max(xs) < TARGETS["key_ms"])))
    out.append(("peak RSS of the console after the flood", f"{con['rss_peak_mib']:.0f} MiB",
                f"< {TARGETS['rss_mib']:.0f} MiB", verdict(con["rss_peak_mib"] < TARGETS["rss_mib"])))
    out.append(("events drained by the console under the flood", f"{drained / secs:.0f}/s, "
                f"{con['dropped']} dropped", "0 dropped", verdict(con["dropped"] == 0)))
    return out


def rules(r: dict) -> list:
    n = r["rules"]
    print(f"\n## 6. Rules in bulk ({n:,} rules)\n")
    print(f"adds     {r['adds_ms']:.0f} ms for {n:,} via the board ({r['adds_ms'] * 1000 / n:.1f} us "
          f"each, the slowest {r['slowest_add_ms']:.2f} ms)")
    print(f"profile  {r['profile_kib']:.0f} KiB, read and armed in {r['load_ms']:.0f} ms")
    return [
        (f"{n:,} rule adds via the board", f"{r['adds_ms']:.0f} ms", f"< {TARGETS['rules_ms']:.0f} ms",
         verdict(r["adds_ms"] < TARGETS["rules_ms"])),
        (f"a {n:,}-rule profile loads in", f"{r['load_ms']:.0f} ms", f"< {TARGETS['rules_ms']:.0f} ms",
         verdict(r["load_ms"] < TARGETS["rules_ms"])),
    ]
