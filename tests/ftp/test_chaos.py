"""Chaos and exact replay, as a user runs them: a client with its own retry logic under
``--chaos 0.2 --seed 5``, twice, meets the same faults in the same places (another seed:
others); ``ftpfault replay`` of the first run's journal gives them again, and so does the
profile ``--to-profile`` writes, through the test API; a client that does something else is
told where it diverged. ``at=`` fires on the Nth match of a rule at every point."""

from __future__ import annotations

import ftplib
import io
import json
import socket
from pathlib import Path

import pytest

from tests.support.servers import DEADLINE, PASSWORD, USER, run_ftpfault, wait_until
from tui.engine.board import FaultBoard
from tui.engine.chaos import CATALOGUE, Chaos, Script
from tui.engine.rules import RuleError, parse_rule
from tui.testing import FaultServer

QUIET = ("--chaos-faults", "code,cut,drop,reset,shape")  # no delays: a quick run


def sync_tool(port: int, uploads: int = 30, tries: int = 4) -> list[str]:
    """A client with its own retry logic, as a sync tool has: each upload, download and
    listing is tried up to ``tries`` times, each try on a new connection. Sequential, so
    its behaviour (and so the faults it meets) depend on the faults alone. What it got."""
    done = []

    def attempt(name: str, work) -> None:
        for _ in range(tries):
            ftp = ftplib.FTP(timeout=DEADLINE)
            try:
                ftp.connect("127.0.0.1", port)
                ftp.login(USER, PASSWORD)
                work(ftp)
                ftp.quit()
                done.append(name)
                return
            except (ftplib.Error, OSError, EOFError):
                continue
            finally:
                ftp.close()
        done.append(f"{name} failed")

    for i in range(uploads):
        data = bytes([i]) * (20_000 + i)
        attempt(f"STOR {i}", lambda ftp: ftp.storbinary(f"STOR f{i}.bin", io.BytesIO(data)))
        attempt(f"RETR {i}", lambda ftp: ftp.retrbinary(f"RETR f{i}.bin", lambda b: None))
        if i % 5 == 0:
            attempt(f"LIST {i}", lambda ftp: ftp.retrlines("LIST", lambda line: None))
    return done


def faults_in(journal: Path) -> list[tuple]:
    """Each fault as (point, path, code, action, the drawn spec for chaos): a replayed rule
    is written with at= where the recorded one had every=, its spec is not the point."""
    events = [json.loads(line) for line in journal.read_text().splitlines()]
    return [(e["point"], e["path"], e["code"], e["action"], e["spec"] if e["rule"] == "chaos" else "rule")
            for e in events if e["kind"] == "fault"]


def chaos_run(headless, tmp_path: Path, name: str, *args: str, command=()) -> tuple[list[tuple], list[str]]:
    journal = tmp_path / f"{name}.jsonl"
    server = headless("--port", "0", "--root", str(tmp_path / name), "--journal", str(journal),
                      *args, command=command)
    seen = sync_tool(server.port)
    assert server.stop() == 0
    return faults_in(journal), seen


def test_the_same_seed_gives_the_same_faults_and_replay_gives_them_again(headless, tmp_path):
    first, seen = chaos_run(headless, tmp_path, "a", "--chaos", "0.2", "--seed", "5", *QUIET)
    assert len(first) > 10 and any(f[0] == "upload" for f in first)  # it did break things
    assert len({f[0] for f in first}) >= 4
    assert all(spec != "rule" for *_, spec in first)  # chaos alone
    again, seen_again = chaos_run(headless, tmp_path, "b", "--chaos", "0.2", "--seed", "5", *QUIET)
    assert again == first and seen_again == seen
    other, _ = chaos_run(headless, tmp_path, "c", "--chaos", "0.2", "--seed", "6", *QUIET)
    assert other != first

    replayed, seen_replayed = chaos_run(headless, tmp_path, "r", str(tmp_path / "a.jsonl"),
                                        command=("replay",))
    assert replayed == first and seen_replayed == seen
    events = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert not [e for e in events if e["kind"] == "replay.diverged"]


def test_the_profile_of_a_replay_does_the_same_through_the_test_api(headless, tmp_path):
    first, seen = chaos_run(headless, tmp_path, "a", "--chaos", "0.2", "--seed", "7", *QUIET,
                            "--fault", "upload=452,every=7")
    assert any(f[2] == 452 and f[4] == "rule" for f in first)
    assert any(f[4].startswith("download") for f in first)
    profile = tmp_path / "case.toml"
    written = run_ftpfault("replay", str(tmp_path / "a.jsonl"), "--to-profile", str(profile))
    assert written.returncode == 0, written.stderr
    assert written.stdout.startswith(f"ftpfault replay: wrote {profile}: 1 rule(s) and ")
    text = profile.read_text()
    assert "upload=452,at=" in text and "[[replay]]" in text
    journal = tmp_path / "fixture.jsonl"
    with FaultServer(profile=profile, journal=journal) as server:
        assert sync_tool(server.port) == seen
    assert faults_in(journal) == first


def test_a_client_that_does_something_else_is_told_where_it_diverged(headless, tmp_path):
    chaos_run(headless, tmp_path, "a", "--chaos", "0.3", "--seed", "3", *QUIET)
    journal = tmp_path / "r.jsonl"
    server = headless("--port", "0", "--root", str(tmp_path / "r"), "--journal", str(journal),
                      str(tmp_path / "a.jsonl"), command=("replay",))
    sync_tool(server.port, uploads=3)  # fewer uploads than then
    assert server.stop() == 0
    diverged = [json.loads(line) for line in journal.read_text().splitlines()]
    messages = [e["message"] for e in diverged if e["kind"] == "replay.diverged"]
    assert messages and all("never came" in m for m in messages)
    assert any(" REPORT " in line or "DIVERGED" in line for line in server.lines)
    report = run_ftpfault("report", str(journal))
    assert "diverged" in report.stdout and "never came" in report.stdout


def test_replay_of_a_journal_without_faults_is_one_clear_line(tmp_path):
    journal = tmp_path / "quiet.jsonl"
    journal.write_text(json.dumps({"seq": 1, "time": 1.0, "kind": "run", "session": 0, "run": "x"}) + "\n")
    result = run_ftpfault("replay", str(journal), "--headless")
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert "has no faults to replay" in result.stderr


# --- the draws


def test_chaos_draws_depend_on_seed_point_moment_and_turn_only():
    one, two = Chaos(0.5, 9), Chaos(0.5, 9)
    draws = [one.turn(["upload"], "end", {}, drawing=True) for _ in range(40)]
    two.turn(["download"], "end", {}, drawing=True)  # another point's turns change nothing here
    assert [two.turn(["upload"], "end", {}, drawing=True) for _ in range(40)] == draws
    assert any(d.rule for d in draws) and not all(d.rule for d in draws)
    assert [d.turn for d in draws] == list(range(1, 41))
    three = Chaos(0.5, 9)
    for _ in range(40):  # a turn a rule decided still counts: the draws after are the same
        three.turn(["upload"], "end", {}, drawing=False)
    assert three.turn(["upload"], "end", {}, drawing=True).turn == 41


def test_every_catalogue_fault_parses_and_keeps_one_reply():
    rng = __import__("random").Random(1)
    for (point, moment), choices in CATALOGUE.items():
        for family, template in choices:
            rule = parse_rule(template(rng, {"size": 1000, "command": "PASV"}))
            assert rule.point == point
            assert rule.extra is None and rule.keep  # one reply per command; no lost bytes


def test_chaos_families_and_points_narrow_it():
    chaos = Chaos(1.0, 2, points=["download"], families=["cut"])
    draws = [chaos.turn(["download"], "start", {"size": 5000}, drawing=True) for _ in range(20)]
    assert all(d.rule.after is not None and d.rule.after < 5000 for d in draws)
    assert chaos.turn(["upload"], "end", {}, drawing=True) is None
    with pytest.raises(ValueError, match="'nope' is not a chaos point"):
        Chaos(0.1, 1, points=["nope"])


def test_a_script_plays_back_its_turns_and_says_which_never_came():
    script = Script({("upload", "end"): {2: "upload=451"}, ("data", "command"): {5: "data=425"}})
    first, second = (script.turn(["upload"], "end", {}, drawing=True) for _ in range(2))
    assert first.rule is None and second.rule.spec == "upload=451" and second.rule.id == "chaos"
    assert script.unplayed() == [("data", "command", 5, "data=425")]


# --- at=


def test_at_fires_on_the_nth_match_only_then_the_rule_is_spent():
    board = FaultBoard()
    rule = board.add("upload=451,at=2,5")
    assert [board.fire(rule) for _ in range(6)] == [False, True, False, False, True, False]
    assert not board.get(rule.id).enabled and board.stats(rule.id).exhausted
    assert rule.spec == "upload=451,at=2,5" and parse_rule(rule.spec) == rule.replace(id="")
    with pytest.raises(RuleError, match="at"):
        parse_rule("upload=451,at=0")


@pytest.mark.parametrize("spec, line, expected", [
    ("cmd:NOOP=550,at=2", "NOOP", ["200", "550", "200"]),
    ("data=425,at=2", "PASV", ["227", "425", "227"]),
    ("login=530,at=2", None, ["230", "530", "230"]),
    ("connect=421,at=2", "connect", ["220", "421", "220"]),
])
def test_at_on_a_command_point_with_a_live_server(spec, line, expected):
    with FaultServer(faults=[spec]) as server:
        got = []
        for _ in range(3):
            with socket.create_connection(("127.0.0.1", server.port), timeout=DEADLINE) as sock:
                reader = sock.makefile("rb")
                greeting = reader.readline().decode()
                if line == "connect":
                    got.append(greeting[:3])
                    continue
                sock.sendall(f"USER {USER}\r\n".encode())
                reader.readline()
                sock.sendall(f"PASS {PASSWORD}\r\n".encode())
                reply = reader.readline().decode()
                if line is None:
                    got.append(reply[:3])
                    continue
                sock.sendall(f"{line}\r\n".encode())
                got.append(reader.readline().decode()[:3])
        assert got == expected


@pytest.mark.parametrize("point, call", [
    ("upload", lambda ftp, i: ftp.storbinary(f"STOR u{i}", io.BytesIO(b"u" * 100))),
    ("download", lambda ftp, i: ftp.retrbinary("RETR d.bin", lambda b: None)),
    ("list", lambda ftp, i: ftp.retrlines("LIST", lambda line: None)),
    ("upload-start", lambda ftp, i: ftp.storbinary(f"STOR s{i}", io.BytesIO(b"s"))),
    ("download-start", lambda ftp, i: ftp.retrbinary("RETR d.bin", lambda b: None)),
    ("list-start", lambda ftp, i: ftp.retrlines("NLST", lambda line: None)),
    ("any", lambda ftp, i: ftp.voidcmd("SYST")),
])
def test_at_on_every_transfer_point_with_ftplib(point, call, tmp_path):
    with FaultServer(root=tmp_path, faults=[f"{point}=450,at=2"]) as server:
        (tmp_path / "d.bin").write_bytes(b"d" * 1000)
        ftp = ftplib.FTP(timeout=DEADLINE)
        ftp.connect("127.0.0.1", server.port)
        ftp.login(USER, PASSWORD)
        got = []
        for i in range(3):
            try:
                call(ftp, i)
                got.append("ok")
            except ftplib.error_temp as err:
                got.append(str(err)[:3])
        assert got == ["ok", "450", "ok"]
        assert ftp.voidcmd("NOOP").startswith("200")
        ftp.quit()
        wait_until(lambda: len(server.fired()) == 1, what="the one fault")
