"""The rule grammar and the board, without any server."""

import threading

import pytest

from tui.engine.board import FaultBoard

from tui.engine.points import STANDARD_MESSAGES

from tui.engine.rules import Rule, RuleError, parse_rule


@pytest.mark.parametrize(
    "spec, point, code, message",
    [
        ("upload", "upload", 426, None),
        ("download", "download", 426, None),
        ("upload=451", "upload", 451, None),
        ("DOWNLOAD=425", "download", 425, None),
        ("upload=452:Quota exceeded", "upload", 452, "Quota exceeded"),
        ("download=550:No: really not", "download", 550, "No: really not"),
        (" upload = 450 ", "upload", 450, None),
    ],
)
def test_parse_valid(spec, point, code, message):
    rule = parse_rule(spec)
    assert (rule.point, rule.code, rule.message) == (point, code, message)


@pytest.mark.parametrize(
    "spec, complaint",
    [
        ("upload=999", "999"),
        ("upload=abc", "'abc'"),
        ("upload=226", "226"),
        ("upload=42", "'42'"),
        ("nope=426", "'nope'"),
        ("", "empty"),
        ("upload=451:", "empty message"),
    ],
)
def test_parse_invalid_names_the_bad_part(spec, complaint):
    with pytest.raises(RuleError) as err:
        parse_rule(spec)
    assert complaint in str(err.value)


def test_rule_text_defaults_to_standard_message_and_spec_round_trips():
    rule = parse_rule("upload=451")
    assert rule.reply == f"451 {STANDARD_MESSAGES[451]}"
    custom = parse_rule("download=426:Link dropped")
    assert custom.reply == "426 Link dropped"
    for r in (rule, custom):
        again = parse_rule(r.spec)
        assert (again.point, again.code, again.message) == (r.point, r.code, r.message)


def test_board_match_counts_and_respects_enabled():
    board = FaultBoard()
    assert board.match("upload") is None
    rule = board.add("upload=451")
    assert board.armed_count() == 1
    assert board.match("download") is None
    assert board.match("upload").id == rule.id
    assert board.fired(rule.id) == 1
    board.update(rule.id, enabled=False)
    assert board.match("upload") is None
    assert board.fired(rule.id) == 1
    board.update(rule.id, enabled=True, code=452)
    assert board.match("upload").code == 452


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
            assert board.match("upload") is not None

    workers = [threading.Thread(target=hammer) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert board.fired(rule.id) == per_thread * threads
