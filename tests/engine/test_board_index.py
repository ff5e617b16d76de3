"""The board's index: asking about a transfer looks only at the rules that could match it,
and gives exactly what a look at every rule would, in board order, after any change.

No timing here: the cost is checked by counting the rules whose filters are tried.
"""

from __future__ import annotations

import random

import pytest

from tui.engine.board import FaultBoard
from tui.engine.chaos import Chaos
from tui.engine.rules import Rule


def brute_force(board: FaultBoard, points, path: str, user: str, client: str = "",
                session: int = 0) -> list[Rule]:
    """What candidates() must give: every armed rule at the points whose filters pass."""
    points = {points} if isinstance(points, str) else set(points)
    return [r for r in board.rules()
            if r.enabled and r.point in points and r.matches(path, user, client, session)]


@pytest.fixture
def tried(monkeypatch) -> list[str]:
    """The specs of the rules whose path/user filters are tried, in order."""
    calls: list[str] = []
    real = Rule.matches

    def counting(rule, path, user, client="", session=0):
        calls.append(rule.spec)
        return real(rule, path, user, client, session)

    monkeypatch.setattr(Rule, "matches", counting)
    return calls


def test_rules_on_other_files_are_not_looked_at(tried):
    board = FaultBoard()
    for i in range(1000):
        board.add(f"download=426,after=1000,path=/elsewhere/d{i}.bin")
        board.add(f"upload=451,path=u{i}.bin")
    glob = board.add("download=450,path=*.bin")
    exact = board.add("download=451,path=/data/big.bin")
    by_name = board.add("download=452,path=big.bin,user=testuser")
    board.add("cmd:RETR=550")  # another point
    tried.clear()
    found = board.candidates("download", "/data/big.bin", "testuser")
    assert found == [glob, exact, by_name]
    assert sorted(tried) == sorted(r.spec for r in found)  # no other rule's filter was tried
    tried.clear()
    assert board.candidates(("upload", "cmd:STOR"), "/data/big.bin", "testuser") == []
    assert tried == []


def test_a_named_path_still_needs_the_user_and_never_matches_no_path():
    board = FaultBoard()
    rule = board.add("upload=451,path=a.bin,user=alice")
    assert board.candidates("upload", "/x/a.bin", "alice") == [rule]
    assert board.candidates("upload", "a.bin", "alice") == [rule]
    assert board.candidates("upload", "/x/a.bin", "bob") == []
    assert board.candidates("upload", "", "alice") == []
    assert board.candidates("upload", "/x/a.bin.part", "alice") == []


def test_board_order_is_kept_across_replace_and_update():
    board = FaultBoard()
    a = board.add("upload=451,path=*.bin")
    b = board.add("upload=452,path=f.bin")
    c = board.add("upload=453")
    # a moves from the glob list to the named one: still first
    a = board.replace(a.id, "upload=450,path=/f.bin")
    assert [r.id for r in board.candidates("upload", "/f.bin")] == [a.id, b.id, c.id]
    board.update(b.id, enabled=False)
    assert [r.id for r in board.candidates("upload", "/f.bin")] == [a.id, c.id]
    board.update(b.id, enabled=True, path="*")
    assert [r.id for r in board.candidates("upload", "/f.bin")] == [a.id, b.id, c.id]


def test_a_spent_rule_leaves_the_index():
    board = FaultBoard()
    rule = board.add("download=426,times=1,path=/a.bin")
    assert board.decide("download", "/a.bin") == [rule]
    assert board.candidates("download", "/a.bin") == []
    board.update(rule.id, enabled=True)  # armed again: its times again
    assert [r.id for r in board.decide("download", "/a.bin")] == [rule.id]
    at = board.add("download=426,at=2,path=/a.bin")  # at= runs out: it leaves the index too
    assert board.decide("download", "/a.bin") == []
    assert board.decide("download", "/a.bin") == [board.get(at.id).replace(enabled=True)]
    assert board.candidates("download", "/a.bin") == []


SPECS = ["upload=451", "upload=452,path=*.bin", "upload=453,path=a.bin", "upload=454,path=/d/a.bin",
         "download=426,path=a.bin,user=bob", "download=425,path=/d/[ab].bin", "download=450,user=alice",
         "cmd:STOR=550,path=a.bin", "upload=455,path=d/a.bin", "list=426,path=/d",
         "upload=456,client=127.0.0.*", "download=451,session=2,path=a.bin", "upload=457,at=2,path=a.bin"]
PATHS = ["", "/d/a.bin", "a.bin", "/a.bin", "/d/b.bin", "/d", "/e/a.bin", "/d/a.bin.part"]
CLIENTS = ["127.0.0.1", "10.0.0.2"]
POINT_SETS = ["upload", "download", ("cmd:STOR", "upload-start"), ("upload", "download", "upload"), "list"]


@pytest.mark.parametrize("seed", range(20))
def test_the_index_gives_what_a_look_at_every_rule_gives(seed):
    rnd = random.Random(seed)
    board = FaultBoard(seed=seed)
    for _ in range(300):
        rules = board.rules()
        action = rnd.random()
        if action < 0.35 or not rules:
            board.add(rnd.choice(SPECS) + rnd.choice(["", ",times=1", ",times=2"]))
        elif action < 0.5:
            board.replace(rnd.choice(rules).id, rnd.choice(SPECS))
        elif action < 0.65:
            board.update(rnd.choice(rules).id, enabled=rnd.random() < 0.6)
        elif action < 0.75:
            board.remove(rnd.choice(rules).id)
        elif action < 0.78:
            board.disarm_all()
        elif action < 0.8:
            board.clear()
        else:
            board.decide(rnd.choice(POINT_SETS), rnd.choice(PATHS), rnd.choice(["alice", "bob"]),
                         rnd.choice(CLIENTS), rnd.choice([1, 2]))
        for points in POINT_SETS:
            for path in PATHS:
                for user, client, session in (("alice", CLIENTS[0], 1), ("bob", CLIENTS[1], 2)):
                    assert (board.candidates(points, path, user, client, session)
                            == brute_force(board, points, path, user, client, session))


def test_watches_says_which_points_have_armed_rules():
    board = FaultBoard()
    assert not board.watches("upload") and not board.watches(("cmd:STOR", "upload-start"))
    rule = board.add("upload-start=425,path=/other.bin")
    assert board.watches(("cmd:STOR", "upload-start")) and not board.watches("upload")
    board.update(rule.id, enabled=False)
    assert not board.watches(("cmd:STOR", "upload-start"))
    board.update(rule.id, enabled=True)
    board.remove(rule.id)
    assert not board.watches("upload-start")


def test_watches_counts_chaos_at_its_points():
    board = FaultBoard(seed=1)
    board.set_chaos(Chaos(0.5, seed=1, points=("login",)))
    assert board.watches(("cmd:PASS", "login")) and not board.watches(("cmd:LIST", "list-start"))
    board.enable_chaos(False)
    assert not board.watches(("cmd:PASS", "login"))
