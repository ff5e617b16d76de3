"""The rule grammar, ``POINT[=CODE[:MESSAGE]][,OPTION...]``, without any server.

Every option parses to the Rule it names and comes back unchanged through ``Rule.spec``
(the canonical form profiles, the API and the console show); the defaults a rule gets
when parts are left out; every error names the part that is wrong, so a user can fix a
spec from the message alone. A Rule built by hand is checked the same way by the board.
"""

from __future__ import annotations

import pytest

from tui.engine.board import FaultBoard
from tui.engine.points import STANDARD_MESSAGES
from tui.engine.rules import Rule, RuleError, parse_rule

# (spec as written, the fields it sets, the canonical spec Rule.spec gives back)
OPTION_SPECS = [
    ("upload", dict(point="upload", code=426), "upload=426"),
    ("download", dict(point="download", code=426), "download=426"),
    ("list", dict(point="list", code=426), "list=426"),
    ("upload-start", dict(point="upload-start", code=425), "upload-start=425"),
    ("download-start=550", dict(point="download-start", code=550), "download-start=550"),
    ("list-start=450", dict(point="list-start", code=450), "list-start=450"),
    ("login", dict(point="login", code=530), "login=530"),
    ("login=421:Go away", dict(point="login", code=421, message="Go away"), "login=421:Go away"),
    # a point in capitals, spaces around the parts, a colon inside the message
    ("DOWNLOAD=425", dict(point="download", code=425), "download=425"),
    (" upload = 450 ", dict(point="upload", code=450), "upload=450"),
    ("upload=452:Quota exceeded", dict(point="upload", code=452, message="Quota exceeded"),
     "upload=452:Quota exceeded"),
    ("download=550:No: really not", dict(point="download", code=550, message="No: really not"),
     "download=550:No: really not"),
    # commas inside a message, before the options start
    ("upload=452:Disk full, sorry", dict(point="upload", code=452, message="Disk full, sorry"),
     "upload=452:Disk full, sorry"),
    ("upload=452:Full, try later,times=1",
     dict(point="upload", code=452, message="Full, try later", times=1),
     "upload=452:Full, try later,times=1"),
    ("upload=421:No, really,drop", dict(point="upload", code=421, message="No, really", drop=True),
     "upload=421:No, really,drop"),
    ("data", dict(point="data", code=425), "data=425"),
    ("cmd:cwd", dict(point="cmd:CWD", code=550), "cmd:CWD=550"),
    ("CMD:rnto=553", dict(point="cmd:RNTO", code=553), "cmd:RNTO=553"),
    ("download=426,after=100000", dict(point="download", code=426, after=100000),
     "download=426,after=100000"),
    ("download,after=0", dict(point="download", code=426, after=0), "download=426,after=0"),
    ("upload=451,after=10", dict(point="upload", code=451, after=10), "upload=451,after=10"),
    ("download,rate=5000", dict(point="download", rate=5000), "download,rate=5000"),
    ("list,rate=1", dict(point="list", rate=1), "list,rate=1"),
    ("cmd:NOOP,delay=2", dict(point="cmd:NOOP", delay=2.0), "cmd:NOOP,delay=2"),
    ("cmd:NOOP,delay=0.25", dict(point="cmd:NOOP", delay=0.25), "cmd:NOOP,delay=0.25"),
    ("upload=452,delay=1.5", dict(point="upload", code=452, delay=1.5), "upload=452,delay=1.5"),
    ("cmd:SIZE,stall", dict(point="cmd:SIZE", stall=True), "cmd:SIZE,stall"),
    ("upload,drop", dict(point="upload", drop=True), "upload,drop"),
    ("login=530,drop", dict(point="login", code=530, drop=True), "login=530,drop"),
    ("download,reset", dict(point="download", reset=True), "download,reset"),
    ("upload=451,keep=no", dict(point="upload", code=451, keep=False), "upload=451,keep=no"),
    ("upload=451,keep=yes", dict(point="upload", code=451), "upload=451"),
    ("upload,times=3", dict(point="upload", code=426, times=3), "upload=426,times=3"),
    ("upload=450,every=2", dict(point="upload", code=450, every=2), "upload=450,every=2"),
    ("upload=450,chance=0.3", dict(point="upload", code=450, chance=0.3),
     "upload=450,chance=0.3"),
    ("upload=450,chance=1", dict(point="upload", code=450, chance=1.0), "upload=450,chance=1"),
    ("download=550,path=*.iso", dict(point="download", code=550, path="*.iso"),
     "download=550,path=*.iso"),
    ("cmd:CWD,user=alice", dict(point="cmd:CWD", code=550, user="alice"),
     "cmd:CWD=550,user=alice"),
    # any code where it makes sense: 1xx at a start point, 2xx at completion and cmd:VERB
    ("download-start=125", dict(point="download-start", code=125), "download-start=125"),
    ("download=250", dict(point="download", code=250), "download=250"),
    ("cmd:DELE=250:Gone", dict(point="cmd:DELE", code=250, message="Gone"), "cmd:DELE=250:Gone"),
    # the greeting and every command
    ("connect", dict(point="connect", code=421), "connect=421"),
    ("connect,delay=5", dict(point="connect", delay=5.0), "connect,delay=5"),
    ("any=421,drop,for=30", dict(point="any", code=421, drop=True, duration=30.0),
     "any=421,drop,for=30"),
    # reply shapes
    ("download,multiline", dict(point="download", multiline="good"), "download,multiline"),
    ("cmd:PWD,multiline=bad", dict(point="cmd:PWD", multiline="bad"), "cmd:PWD,multiline=bad"),
    ("cmd:PWD,multiline=good", dict(point="cmd:PWD", multiline="good"), "cmd:PWD,multiline"),
    ("login,lf", dict(point="login", lf=True), "login,lf"),
    ("list-start,split=3", dict(point="list-start", split=3), "list-start,split=3"),
    ("upload=426,extra=226", dict(point="upload", code=426, extra="226"), "upload=426,extra=226"),
    ("upload=426,extra=226:All done: really", dict(point="upload", code=426,
                                                   extra="226:All done: really"),
     "upload=426,extra=226:All done: really"),
    ("download,early", dict(point="download", early=True), "download,early"),
    # the data connection
    ("data,address=127.0.0.2", dict(point="data", address="127.0.0.2"), "data,address=127.0.0.2"),
    ("data,port=refused", dict(point="data", port="refused"), "data,port=refused"),
    ("data,accept=never", dict(point="data", accept="never"), "data,accept=never"),
    ("data,address=10.0.0.1,accept=close", dict(point="data", address="10.0.0.1", accept="close"),
     "data,address=10.0.0.1,accept=close"),
    ("data,tls=reuse", dict(point="data", tls="reuse"), "data,tls=reuse"),
    # who is hit
    ("upload=451,client=127.0.0.*", dict(point="upload", code=451, client="127.0.0.*"),
     "upload=451,client=127.0.0.*"),
    ("connect=421,session=3", dict(point="connect", code=421, session=3), "connect=421,session=3"),
    # everything at once, written in a different order and case than Rule.spec writes it
    (" UPLOAD = 452 : Quota exceeded , USER=bob, path=*.bin ,chance=0.5,every=3,times=2,"
     "keep=no, DROP ,delay=0.5,rate=1000,after=10 ",
     dict(point="upload", code=452, message="Quota exceeded", after=10, rate=1000, delay=0.5,
          drop=True, keep=False, times=2, every=3, chance=0.5, path="*.bin", user="bob"),
     "upload=452:Quota exceeded,after=10,rate=1000,delay=0.5,drop,keep=no,times=2,every=3,"
     "chance=0.5,path=*.bin,user=bob"),
]


@pytest.mark.parametrize("spec, fields, canonical", OPTION_SPECS, ids=[s[2] for s in OPTION_SPECS])
def test_every_option_parses_and_round_trips_through_spec(spec, fields, canonical):
    rule = parse_rule(spec)
    assert rule == Rule(**fields)
    assert rule.spec == canonical
    again = parse_rule(rule.spec)
    assert again == rule
    assert again.spec == canonical


def test_default_codes_and_texts_and_an_action_alone_keeps_the_normal_reply():
    # bare points: the point's default code
    assert [parse_rule(p).reply_code for p in (
        "upload", "download", "list", "upload-start", "download-start", "list-start",
        "login", "data", "cmd:MKD")] == [426, 426, 426, 425, 425, 425, 530, 425, 550]
    # an action without CODE keeps the normal reply (no code of its own)...
    for spec in ("cmd:NOOP,delay=1", "download,rate=100", "cmd:NOOP,stall", "upload,reset"):
        rule = parse_rule(spec)
        assert rule.code is None and rule.reply is None, spec
    # ...except a drop, which hangs up with 421, and a cut, which needs a reply: 426
    assert parse_rule("cmd:CWD,drop").reply == f"421 {STANDARD_MESSAGES[421]}"
    assert parse_rule("download,after=5").reply == f"426 {STANDARD_MESSAGES[426]}"
    # a code alone gets its standard text; a message replaces it
    assert parse_rule("upload=451").reply == f"451 {STANDARD_MESSAGES[451]}"
    assert parse_rule("download=426:Link dropped").reply == "426 Link dropped"
    assert parse_rule("upload=452:Full, sorry now").reply == "452 Full, sorry now"


@pytest.mark.parametrize(
    "spec, complaint",
    [
        ("bogus", "'bogus'"),
        ("bogus=451", "'bogus'"),
        ("cmd:FROB=550", "'FROB'"),
        ("cmd:", "''"),
        ("nope=426", "'nope'"),
        ("upload=45", "'45'"),
        ("upload=42", "'42'"),
        ("login=230", "login takes 4xx or 5xx"),
        ("data=227", "data takes 4xx or 5xx"),
        ("upload-start=226", "upload-start takes 1xx"),
        ("download=150", "download takes 2xx"),
        ("cmd:RETR=150", "cmd:RETR takes 2xx (answered instead of running the command)"),
        ("any=200", "any takes 4xx or 5xx"),
        ("connect=220", "connect takes 4xx or 5xx"),
        ("upload=099", "code 99 is not a reply code"),
        ("upload=600", "600"),
        ("upload=999", "999"),
        ("upload=4x1", "'4x1'"),
        ("upload=abc", "'abc'"),
        ("upload=451:", "empty message"),
        ("upload=451:two\nlines", "single line"),
        ("upload,frob=1", "'frob'"),
        ("upload,times=1,times=2", "'times' given twice"),
        ("upload,after", "after needs a value"),
        ("download=426:Cut,after", "after needs a value"),  # an option, not message text
        ("upload=451:Oops,wat=1", "'wat'"),
        ("upload,after=ten", "after='ten'"),
        ("upload,after=-1", "after='-1'"),
        ("upload,rate=0", "rate=0"),
        ("upload,rate=fast", "rate='fast'"),
        ("upload,delay=soon", "delay='soon'"),
        ("upload,delay=0", "delay=0"),
        ("upload,delay=-1", "delay=-1"),
        ("upload,delay=3601", "delay=3601"),
        ("upload,delay=nan", "delay=nan"),
        ("upload,times=0", "times=0"),
        ("upload,times=1.5", "times='1.5'"),
        ("upload,every=0", "every=0"),
        ("upload,chance=0", "chance=0"),
        ("upload,chance=1.5", "chance=1.5"),
        ("upload,chance=half", "chance='half'"),
        ("upload,path=", "path="),
        ("upload,user=", "user="),
        ("upload,keep=maybe", "keep='maybe'"),
        ("upload,stall=1", "stall takes no value"),
        ("upload,drop=yes", "drop takes no value"),
        ("upload,stall,drop", "stall and drop"),
        ("upload,drop,reset", "drop and reset"),
        ("list,after=10", "after="),
        ("cmd:RETR,after=10", "after="),
        ("login,rate=10", "rate="),
        ("download-start,rate=10", "rate="),
        ("download,keep=no", "keep=no"),
        ("upload=451,stall", "stall sends no reply"),
        ("upload=451,reset", "reset sends no reply"),
        ("upload,stall,delay=1", "delay="),
        ("upload=451,multiline=ugly", "multiline='ugly': must be good or bad"),
        ("upload,lf=yes", "lf takes no value"),
        ("upload,split=0", "split=0"),
        ("upload,extra", "extra needs a value"),
        ("upload,extra=22", "extra: code '22'"),
        ("upload,extra=226:", "extra='226:': empty message"),
        ("upload,extra=226:two\r\n200 forged", "extra reply must be a single line"),
        ("upload,stall,extra=226", "stall sends no reply: it has no shape"),
        ("upload,early", "early applies to the download point"),
        ("download,early,after=10", "early and after= cannot be combined"),
        ("upload-start=150,drop", "drop hangs up after a final reply"),
        ("upload,address=127.0.0.2", "address= applies to the data point"),
        ("data,address=localhost", "not an IPv4 address"),
        ("data,port=open", "port='open': must be refused"),
        ("data,accept=sometimes", "must be never or close"),
        ("data,tls=maybe", "must be stall or reuse"),
        ("data=425,accept=never", "accept= shapes the data connection"),
        ("data,drop,port=refused", "port= shapes the data connection"),
        ("data,port=refused,accept=close", "port and accept cannot be combined"),
        ("data,accept=never,tls=stall", "accept and tls cannot be combined"),
        ("any,for=0", "for=0"),
        ("any,for=soon", "for='soon'"),
        ("upload,session=0", "session=0"),
        ("upload,client=", "client="),
        ("connect,path=*.bin", "cannot apply at connect"),
        ("connect=421,user=bob", "cannot apply at connect"),
        ("", "empty"),
    ],
)
def test_every_error_names_the_bad_part(spec, complaint):
    with pytest.raises(RuleError) as err:
        parse_rule(spec)
    assert complaint in str(err.value), str(err.value)


def test_a_rule_built_by_hand_is_checked_by_the_board():
    board = FaultBoard()
    with pytest.raises(RuleError, match="after="):
        board.add(Rule("list", after=3))
    with pytest.raises(RuleError, match="unknown fault point"):
        board.add(Rule("nowhere"))
    assert board.add(Rule("upload")).code == 426  # the default code is filled in
    assert board.rules()[0].spec == "upload=426"


def test_a_changed_rule_has_its_own_spec():
    """A rule's spec is worked out once; replace() makes a new rule with a spec of its own."""
    rule = parse_rule("upload=451,times=1")
    assert rule.spec == "upload=451,times=1"
    changed = rule.replace(code=452, times=None, path="*.bin")
    assert changed.spec == "upload=452,path=*.bin" and rule.spec == "upload=451,times=1"
    assert parse_rule(changed.spec) == changed
