"""The fault board without any server: matching, counting, enabling and removing rules,
and the triggers (times=, every=, chance=, path=, user=) that decide when a rule fires.

The board is what the console, the control API, profiles and scripts all change, from
their own threads, while the server's loop asks it on every command: its counters must be
exact under contention, and a seeded chance= must give the same sequence on every run.
The same triggers against a live server are in tests/ftp/test_triggers.py.
"""

from __future__ import annotations

import threading

from tui.engine.board import FaultBoard
from tui.engine.rules import Rule

# --- matching, counting, enabling, removing


def first_fired(board: FaultBoard, *args, **kwargs) -> Rule | None:
    """The first rule that fires at a reply (board.decide: the deciding one first)."""
    fired = board.decide(*args, **kwargs)
    return fired[0] if fired else None


def test_board_match_counts_and_respects_enabled():
    board = FaultBoard()
    assert first_fired(board, "upload") is None
    rule = board.add("upload=451")
    assert board.armed_count() == 1
    assert first_fired(board, "download") is None
    assert first_fired(board, "upload").id == rule.id
    assert board.fired(rule.id) == 1
    board.update(rule.id, enabled=False)
    assert first_fired(board, "upload") is None
    assert board.fired(rule.id) == 1
    board.update(rule.id, enabled=True, code=452)
    assert first_fired(board, "upload").code == 452


def test_board_disarm_all_and_remove():
    board = FaultBoard()
    a = board.add(Rule("upload", 451))
    b = board.add(Rule("download", 425))
    v = board.version
    board.disarm_all()
    assert board.version > v
    assert board.armed_count() == 0
    assert [r.enabled for r in board.rules()] == [False, False]
    board.remove(a.id)
    assert [r.id for r in board.rules()] == [b.id]
    assert board.first("upload") is None
    assert board.first("download").id == b.id


def test_board_counts_are_exact_across_threads():
    board = FaultBoard()
    rule = board.add("upload")
    per_thread, threads = 2000, 8

    def hammer():
        for _ in range(per_thread):
            assert first_fired(board, "upload") is not None

    workers = [threading.Thread(target=hammer) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert board.fired(rule.id) == per_thread * threads

# --- triggers


def fires(board: FaultBoard, rule: Rule, n: int) -> list[bool]:
    return [board.fire(rule) for _ in range(n)]


def test_times_fires_the_next_n_matches_then_disarms_itself():
    board = FaultBoard()
    rule = board.add("upload=451,times=2")
    assert board.stats(rule.id).remaining == 2
    assert [bool(first_fired(board, "upload")) for _ in range(4)] == [True, True, False, False]
    assert board.get(rule.id).enabled is False
    stats = board.stats(rule.id)
    assert (stats.fired, stats.matched, stats.remaining, stats.exhausted) == (2, 2, 0, True)
    assert board.armed_count() == 0
    # arming it again gives it its times again
    board.update(rule.id, enabled=True)
    assert board.stats(rule.id).remaining == 2
    assert bool(first_fired(board, "upload")) and board.stats(rule.id).remaining == 1
    # without times= a rule never runs out
    forever = board.add("download")
    assert all(fires(board, forever, 50))
    assert board.stats(forever.id).remaining is None and board.get(forever.id).enabled


def test_every_fires_on_each_nth_match_and_counts_every_match():
    board = FaultBoard()
    rule = board.add("upload=451,every=3")
    assert fires(board, rule, 9) == [False, False, True] * 3
    assert (board.stats(rule.id).matched, board.fired(rule.id)) == (9, 3)


def test_every_and_times_combine():
    board = FaultBoard()
    rule = board.add("upload=451,every=2,times=2")
    assert fires(board, rule, 8) == [False, True, False, True, False, False, False, False]
    assert board.get(rule.id).enabled is False
    assert board.stats(rule.id).fired == 2


def test_chance_is_reproducible_with_a_seed_one_stream_per_rule():
    n = 200

    def sequence(board: FaultBoard, rule: Rule) -> list[bool]:
        return fires(board, rule, n)

    a = FaultBoard(seed=7)
    rule_a = a.add("upload=451,chance=0.5")
    first = sequence(a, rule_a)
    assert 0.3 * n < sum(first) < 0.7 * n

    # another board with the same seed: the same sequence, even with another rule beside
    # it that is asked just as often (its own stream does not consume this one's)
    b = FaultBoard(seed=7)
    rule_b = b.add("upload=451,chance=0.5")
    other = b.add("download=425,chance=0.5")
    mixed = []
    for _ in range(n):
        mixed.append(b.fire(rule_b))
        b.fire(other)
    assert mixed == first

    # the other rule has its own sequence, not a copy of the first
    c = FaultBoard(seed=7)
    c.add("upload=451,chance=0.5")
    assert sequence(c, c.add("download=425,chance=0.5")) != first

    # another seed, another sequence; chance=1 always fires
    d = FaultBoard(seed=8)
    assert sequence(d, d.add("upload=451,chance=0.5")) != first
    e = FaultBoard(seed=7)
    assert all(sequence(e, e.add("upload=451,chance=1")))


def test_chance_with_every_is_only_asked_on_the_nth_match():
    board = FaultBoard(seed=3)
    rule = board.add("upload=451,chance=0.5,every=2")
    result = fires(board, rule, 80)
    assert not any(result[0::2])  # odd matches never fire, whatever the dice say
    assert 5 < sum(result[1::2]) < 35  # even ones fire about half the time
    again = FaultBoard(seed=3)
    assert fires(again, again.add("upload=451,chance=0.5,every=2"), 80) == result


def test_path_and_user_filters():
    board = FaultBoard()
    by_path = board.add("download=550,path=*.iso")
    by_user = board.add("upload=451,user=alice")
    both = board.add("cmd:DELE,path=keep*,user=bob")
    assert first_fired(board, "download", "/pub/disc.iso", "x").id == by_path.id
    assert first_fired(board, "download", "disc.iso", "x").id == by_path.id
    assert first_fired(board, "download", "/pub/disc.img", "x") is None
    assert first_fired(board, "download", "", "x") is None  # a path filter needs a path
    assert first_fired(board, "upload", "/a", "alice").id == by_user.id
    assert first_fired(board, "upload", "/a", "bob") is None
    assert first_fired(board, "upload", "", "alice").id == by_user.id
    assert first_fired(board, "cmd:DELE", "/d/keep.txt", "bob").id == both.id
    assert first_fired(board, "cmd:DELE", "/d/keep.txt", "alice") is None
    assert first_fired(board, "cmd:DELE", "/d/lose.txt", "bob") is None
    # a full-path glob works too
    full = board.add("list=450,path=/secret/*")
    assert first_fired(board, "list", "/secret/a", "x").id == full.id
    assert first_fired(board, "list", "/public/a", "x") is None
    # what did not pass the filters was not counted
    assert board.stats(by_path.id).matched == 2
    assert board.stats(by_user.id).matched == 2
    assert board.stats(both.id).matched == 1


def test_candidates_counts_nothing_and_decide_honours_eligible():
    board = FaultBoard()
    cut = board.add("download,after=10")
    plain = board.add("download=451")
    assert [r.id for r in board.candidates("download")] == [cut.id, plain.id]
    assert board.stats(cut.id).matched == 0
    got = first_fired(board, "download", eligible=lambda r: r.after is None)
    assert got.id == plain.id
    assert board.stats(cut.id).matched == 0 and board.fired(plain.id) == 1


# --- adding stays O(1): nothing is recomputed for the rules already there


def test_adding_a_rule_computes_no_other_rules_spec(monkeypatch, tmp_path):
    """Counted, not timed: each add, replace or remove computes Rule.spec a fixed number of
    times (its own, for the twin count and the rule event), however many rules there are."""
    from tui.engine.server import FaultServer
    from tui.engine.settings import Settings

    calls = []
    real = Rule.spec.func  # (a cached_property: the test counts every computation)
    monkeypatch.setattr(Rule, "spec", property(lambda rule: calls.append(rule.id) or real(rule)))
    server = FaultServer(Settings(root=tmp_path, port=0, passive_ports=None))  # its listener: rule events
    try:
        board = server.board

        def cost(change) -> list[str]:
            calls.clear()
            change()
            return list(calls)

        first = cost(lambda: board.add("upload=451,path=*.bin"))
        for n in range(2, 1001):
            board.add(f"download=426,after={n}")
        last = cost(lambda: board.add("upload=451,path=*.bin"))  # a twin of the first, too
        assert len(last) == len(first) <= 3, (first, last)
        assert set(last) <= {"", "r1001"}  # its own spec only (before and after it has an id)
        replaced = cost(lambda: board.replace("r500", "list=450"))
        removed = cost(lambda: board.remove("r600"))
        assert len(replaced) <= 3 and set(replaced) <= {"", "r500"}
        assert len(removed) <= 2 and set(removed) == {"r600"}
    finally:
        server.stop()
