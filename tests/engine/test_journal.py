"""The journal (``--journal FILE``): every event as a JSON line, appended across runs, and a
journal that cannot be written is a start-up error, one line, not a run that loses events.

Run through ``ftpfault --headless`` as a user does; that the journal holds the same events
as the control API, line for line and under load, is in tests/automation/test_ctl.py and
tests/automation/test_api_events.py.
"""

from __future__ import annotations

import subprocess

from tests.support.control import read_journal
from tests.support.servers import DEADLINE, FTPFAULT, ftpfault_env


def test_journal_appends_across_runs(headless_control):
    first = headless_control()
    ftp = first.ftp()
    ftp.quit()
    first.wait_line(r"#1 session closed")
    assert first.stop() == 0
    before = read_journal(first.journal)
    assert [e["kind"] for e in before][:3] == ["run", "session.open", "reply"]
    assert before[-1]["kind"] == "session.close"

    second = headless_control()
    ftp = second.ftp()
    ftp.quit()
    second.wait_line(r"#1 session closed")
    assert second.stop() == 0
    after = read_journal(second.journal)
    assert after[:len(before)] == before and len(after) == 2 * len(before)
    # both runs number their events from 1: the run event says where each begins
    runs = [e for e in after if e["kind"] == "run"]
    assert [e["seq"] for e in runs] == [1, 1] and runs[0]["run"] != runs[1]["run"]
    assert after[len(before)] == runs[1]


def test_journal_that_cannot_be_written_is_one_clear_line(tmp_path):
    result = subprocess.run([*FTPFAULT, "--headless", "--port", "0", "--root", str(tmp_path / "root"),
                             "--journal", str(tmp_path)], capture_output=True, text=True,
                            timeout=DEADLINE, env=ftpfault_env(), stdin=subprocess.DEVNULL)
    assert result.returncode == 1 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ftpfault: error: cannot write the journal")
    assert str(tmp_path) in lines[0]
