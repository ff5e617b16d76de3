"""Rules cost nothing until they act: with a thousand armed rules on other files, a
session's commands and transfers look at none of them (counted, not timed), and the
transfers are what they would be with no rules at all."""

from __future__ import annotations

import io

import pytest

from tests.support.servers import payload, sha256
from tui.engine.ftp.control import FaultControlMixin
from tui.engine.rules import Rule


@pytest.fixture
def counted(monkeypatch) -> dict[str, int]:
    counts = {"matches": 0, "virtual_path": 0}
    real_matches, real_path = Rule.matches, FaultControlMixin.virtual_path

    def matches(rule, path, user, client="", session=0):
        counts["matches"] += 1
        return real_matches(rule, path, user, client, session)

    def virtual_path(handler, cmd, arg):
        counts["virtual_path"] += 1
        return real_path(handler, cmd, arg)

    monkeypatch.setattr(Rule, "matches", matches)
    monkeypatch.setattr(FaultControlMixin, "virtual_path", virtual_path)
    return counts


def test_a_thousand_rules_on_other_files_are_never_looked_at(server, ftp, root, recorder, counted):
    for i in range(500):
        server.arm(f"download=426,after=1000,path=/elsewhere/d{i}.bin")
        server.arm(f"upload=451,path=u{i}.bin")
    data = payload(300_000)
    counted.update(matches=0, virtual_path=0)
    ftp.storbinary("STOR mine.bin", io.BytesIO(data))
    got = io.BytesIO()
    ftp.retrbinary("RETR mine.bin", got.write)
    assert sha256(got.getvalue()) == sha256(data)
    assert counted == {"matches": 0, "virtual_path": 0}
    assert [e.code for e in recorder.wait("transfer", 2)] == [226, 226]
    assert server.fired() == []


def test_a_rule_at_a_command_point_still_gets_the_path(server, ftp, counted):
    server.arm("cmd:DELE=550,path=keep.bin")
    with pytest.raises(Exception, match="^550"):
        ftp.delete("keep.bin")
    assert counted["virtual_path"] == 1 and counted["matches"] == 1
