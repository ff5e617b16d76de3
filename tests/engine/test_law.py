"""The law of how rules combine, and the new triggers, on a bare board (no server).

At one reply: the first *deciding* rule (a code, drop, stall, reset, a cut) that fires
wins and no other deciding rule is asked; every *shaping* rule that fires acts beside it;
``combine`` makes the one rule in effect: the longest delay, the slowest rate, any other
option from the first rule that has it, the deciding rule first. ``for=SECONDS`` runs on
the board's clock (a fake one here); ``client=`` and ``session=`` filter who is hit.
The same law on a live server: tests/ftp/test_combine.py.
"""

from __future__ import annotations

from tui.engine.board import SPENT, FaultBoard
from tui.engine.ftp.transfer import Transfer
from tui.engine.rules import combine, parse_rule


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def specs(rules) -> list[str]:
    return [r.spec for r in rules]


# --- decide


def test_decide_one_deciding_rule_and_every_shaping_one_in_board_order():
    board = FaultBoard()
    for spec in ("upload,delay=1", "upload=451", "upload,lf", "upload=452", "upload,rate=10"):
        board.add(spec)
    fired = board.decide("upload")
    assert specs(fired) == ["upload=451", "upload,delay=1", "upload,lf", "upload,rate=10"]
    assert board.stats("r4").matched == 0  # the second deciding rule was not asked
    assert specs(board.decide("upload", decided=True)) == [
        "upload,delay=1", "upload,lf", "upload,rate=10"]


def test_a_deciding_rule_that_does_not_fire_lets_the_next_one_decide():
    board = FaultBoard()
    board.add("upload=451,every=2")
    board.add("upload=452")
    assert [specs(board.decide("upload")) for _ in range(3)] == [
        ["upload=452"], ["upload=451,every=2"], ["upload=452"]]


# --- combine


def test_combine_the_longest_delay_the_slowest_rate_and_the_first_shapes():
    rules = [parse_rule(s) for s in (
        "download=451,delay=1,lf", "download,delay=3,rate=5000,multiline=bad",
        "download,rate=2000,lf,multiline,extra=226", "download,delay=2")]
    rule = combine(rules)
    assert (rule.code, rule.delay, rule.rate) == (451, 3.0, 2000)
    assert (rule.lf, rule.multiline, rule.extra) == (True, "bad", "226")
    assert combine([]) is None
    shaping = combine([parse_rule("cmd:PWD,delay=1"), parse_rule("cmd:PWD,split=4")])
    assert (shaping.code, shaping.delay, shaping.split, shaping.decides) == (None, 1.0, 4, False)


# --- a transfer's plan and end


def transfer(point: str = "download", size: int = 1000) -> Transfer:
    return Transfer(1, "RETR", "/f.bin", point, "u", size=size)


def test_the_slowest_rate_of_the_rules_that_fire_at_the_start():
    board = FaultBoard()
    for spec in ("download,rate=9000", "download=451,rate=3000", "download,rate=5000"):
        board.add(spec)
    t = transfer()
    assert specs(t.plan(board)) == ["download=451,rate=3000", "download,rate=9000",
                                    "download,rate=5000"]
    assert t.rate == 3000 and t.decided.code == 451  # the rate rule with a code decides the end
    rule, fired = t.ending(board, "226 Transfer complete.")
    assert (rule.code, rule.rate, fired) == (451, 3000, [])


def test_the_end_asks_the_rest_and_a_cut_decides_before_them():
    board = FaultBoard()
    board.add("download=426,after=10")
    board.add("download,delay=0.5")
    board.add("download=450")
    t = transfer()
    assert t.plan(board) == [] and t.cut_at == 10
    assert t.cut_now(board, 10).code == 426
    rule, fired = t.ending(board, "426 Transfer cut.")
    assert specs(fired) == ["download,delay=0.5"]  # 450 not asked: the cut decided
    assert (rule.code, rule.after, rule.delay) == (426, 10, 0.5)
    assert board.stats("r3").matched == 0


def test_a_transfer_that_broke_on_its_own_is_left_alone():
    board = FaultBoard()
    board.add("download=450")
    t = transfer()
    t.plan(board)
    assert t.ending(board, "426 Connection reset by peer; transfer aborted.") == (None, [])
    assert board.stats("r1").matched == 0


def test_a_rate_alone_leaves_the_final_reply_to_pyftpdlib():
    board = FaultBoard()
    board.add("download,rate=1000")
    t = transfer()
    t.plan(board)
    assert t.ending(board, "226 Transfer complete.") == (None, [])


def test_early_marks_the_last_bytes():
    board = FaultBoard()
    board.add("download,early")
    t = transfer(size=1000)
    t.plan(board)
    assert (t.early_at, t.room(0), t.early_due(499), t.early_due(500)) == (500, 500, False, True)
    t.replied = "226 Transfer complete."
    assert t.room(500) is None and not t.marks
    small = transfer(size=1)
    small.plan(board)
    assert small.early_at is None  # nothing to hold back


# --- for=


def test_for_disarms_the_rule_when_its_time_is_up():
    clock, told = Clock(), []
    board = FaultBoard(clock=clock, listener=lambda what, rule, source: told.append((what, rule.id)))
    rule = board.add("any=421,for=30")
    assert board.stats(rule.id).expires_in == 30
    clock.now += 10
    assert board.stats(rule.id).expires_in == 20 and board.expire() == []
    assert board.fire(rule)
    clock.now += 20
    assert not board.fire(rule)  # past its time: never fires, even before expire() ran
    assert not board.get(rule.id).enabled and board.stats(rule.id).exhausted
    assert board.stats(rule.id).expires_in == 0
    assert told[-1] == (SPENT, rule.id)
    assert board.armed_count() == 0


def test_expire_turns_off_every_rule_whose_time_is_up_and_arming_again_restarts_it():
    clock = Clock()
    board = FaultBoard(clock=clock)
    short, long, plain = (board.add(s) for s in ("upload=451,for=5", "upload=452,for=60", "upload"))
    clock.now += 5
    assert [r.id for r in board.expire()] == [short.id]
    assert [r.enabled for r in board.rules()] == [False, True, True]
    board.update(short.id, enabled=True)
    assert board.stats(short.id).expires_in == 5 and not board.stats(short.id).exhausted
    board.update(long.id, enabled=False)
    assert board.stats(long.id).expires_in is None  # off: not counting
    assert board.stats(plain.id).expires_in is None


# --- client= and session=


def test_client_and_session_filters():
    board = FaultBoard()
    by_client = board.add("connect=421,client=127.0.0.2")
    by_session = board.add("cmd:NOOP=500,session=3")
    assert specs(board.decide("connect", client="127.0.0.1")) == []
    assert specs(board.decide("connect", client="127.0.0.2")) == [by_client.spec]
    assert specs(board.decide("cmd:NOOP", session=2)) == []
    assert specs(board.decide("cmd:NOOP", session=3)) == [by_session.spec]
    glob = board.add("upload=451,client=127.0.*")
    assert specs(board.decide("upload", client="127.0.9.1")) == [glob.spec]
    assert specs(board.decide("upload", client="10.0.0.1")) == []
