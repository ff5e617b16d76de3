"""The command line: ``ftpfault`` serves (the console, or a log with ``--headless``);
``ftpfault ctl`` drives a running one through its control API; ``ftpfault report`` reads
a journal and says what the clients did after each fault; ``ftpfault replay`` serves a
journal's faults again, on the same matches."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["ctl"]:
        from .ctl import main as ctl_main

        return ctl_main(argv[1:])
    if argv[:1] == ["report"]:
        from .report import main as report_main

        return report_main(argv[1:])
    if argv[:1] == ["replay"]:
        from .replay import main as replay_main

        return replay_main(argv[1:])
    from .serve import main as serve_main

    return serve_main(argv)
