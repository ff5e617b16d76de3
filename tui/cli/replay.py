"""``ftpfault replay RUN.jsonl``: serve again with the faults a journal recorded, fired on
the same matches (chaos draws and rules alike), and say where the client did something else
this time. ``--to-profile FILE.toml`` writes them as a profile instead, so the case can be
kept with a client's tests."""

from __future__ import annotations

import sys
from pathlib import Path

from ..engine.profiles import ProfileError, save_replay_profile
from ..engine.replay import ReplayError, plan_from_journal
from . import serve as serving
from .parsing import read_journal

PROG = "ftpfault replay"


def build_parser():
    parser = serving.build_parser()
    parser.prog = PROG
    parser.description = (
        "Serve again with the faults a journal (ftpfault --journal FILE) recorded, on the same\n"
        "matches: the Nth upload that failed then fails now, chaos draws included. A client\n"
        "that does something else is told where it diverged (in the log, the journal and the\n"
        "report). Every ftpfault option works here too (--headless, --port, --root, ...).")
    parser.epilog = None
    parser.add_argument("recorded", type=Path, metavar="RUN.jsonl",
                        help="a journal written by --journal (its --journal is this run's own)")
    parser.add_argument("--run", metavar="ID", help="which run of the journal (default: the last one)")
    parser.add_argument("--to-profile", type=Path, metavar="FILE.toml",
                        help="write the replay as a profile (rules with at=, the chaos draws as "
                             "[[replay]]) instead of serving")
    return parser


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    try:
        plan = read_journal(PROG, args.recorded, lambda lines: plan_from_journal(lines, args.run))
    except ReplayError as err:
        print(f"{PROG}: error: {args.recorded}: {err}", file=sys.stderr)
        return 1
    if plan is None:
        return 1
    draws = sum(len(turns) for turns in plan.script.draws.values())
    what = f"{len(plan.rules)} rule(s) and {draws} chaos draw(s): {plan.faults} fault(s) of run {plan.run}"
    if args.to_profile is not None:
        try:
            path = save_replay_profile(args.to_profile, plan.rules, plan.script.draws,
                                       f"Replays {what} from {args.recorded.name}")
        except (ProfileError, OSError) as err:
            print(f"{PROG}: error: {err}", file=sys.stderr)
            return 1
        print(f"{PROG}: wrote {path}: {what}")
        return 0
    try:
        options = serving.resolve(args)
    except ProfileError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    options.replay = plan
    print(f"{PROG}: replaying {what}", file=sys.stderr, flush=True)
    return serving.serve(options, args)
