"""Profiles (TOML files of rules): both ways to write a fault, saving and loading them back,
and the errors a bad one gives, without any server.

A profile is hand-written or saved by the console; either way every error names the file,
the entry (``fault #2``, ``[server]``) and the problem on one line, so the message alone
says what to fix. The ``[server]`` table's settings are in test_settings.py; the profiles
shipped in ``profiles/`` are tried for real in tests/automation/test_example_profiles.py.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from tests.support.servers import write_profile
from tui.engine.board import FaultBoard
from tui.engine.profiles import ProfileError, load_profile, rule_from_fields, save_profile
from tui.engine.rules import RuleError, parse_rule, rule_to_fields


def test_both_forms_of_a_fault_load_as_the_same_rules(tmp_path):
    path = write_profile(tmp_path / "p.toml", '''
[[fault]]
spec = "upload=451,times=1"

[[fault]]
point = "upload"
code = 451
times = 1

[[fault]]
spec = "download=426:Cable cut,after=100000,path=*.iso,every=2"

[[fault]]
point = "download"
code = 426
message = "Cable cut"
after = 100000
path = "*.iso"
every = 2

[[fault]]
point = "upload"
code = 452
rate = 5000
delay = 0.5
drop = true
keep = false
chance = 0.25
user = "bob"
enabled = false

[[fault]]
point = "cmd:NOOP"
stall = true

[[fault]]
point = "cmd:CWD"
reset = true

[[fault]]
point = "login"
''')
    profile = load_profile(path)
    assert profile.path == path and profile.server == {}
    specs = [r.spec for r in profile.rules]
    assert specs == [
        "upload=451,times=1",
        "upload=451,times=1",
        "download=426:Cable cut,after=100000,every=2,path=*.iso",
        "download=426:Cable cut,after=100000,every=2,path=*.iso",
        "upload=452,rate=5000,delay=0.5,drop,keep=no,chance=0.25,user=bob",
        "cmd:NOOP,stall",
        "cmd:CWD,reset",
        "login=530",
    ]
    assert profile.rules[0] == profile.rules[1] == parse_rule("upload=451,times=1")
    assert profile.rules[2] == profile.rules[3]
    assert [r.enabled for r in profile.rules] == [True] * 4 + [False] + [True] * 3


def test_fields_keep_commas_in_a_message_or_a_path_as_text():
    """The fields form is structured: a message "Full, times=3" is a message, not a trigger."""
    rule = rule_from_fields({"point": "upload", "code": 452, "message": "Full, times=3"})
    assert (rule.message, rule.times) == ("Full, times=3", None)
    rule = rule_from_fields({"point": "download", "code": 450, "path": "a,b.iso"})
    assert rule.path == "a,b.iso" and rule.matches("/x/a,b.iso", "u")


def test_the_new_options_in_the_fields_form(tmp_path):
    """for= is a TOML key as any other; extra takes a code or "CODE:MESSAGE" (commas and
    all); multiline takes true or "bad"; a flag takes true."""
    path = write_profile(tmp_path / "p.toml", '''
[[fault]]
point = "any"
code = 421
drop = true
for = 30

[[fault]]
point = "upload"
code = 426
extra = 226
multiline = true

[[fault]]
point = "cmd:PWD"
extra = "250:Odd, but fine"
multiline = "bad"
lf = true
split = 3

[[fault]]
point = "data"
address = "127.0.0.2"
accept = "never"
client = "127.0.0.*"
session = 2
''')
    rules = load_profile(path).rules
    assert [r.spec for r in rules[:2]] == ["any=421,drop,for=30", "upload=426,multiline,extra=226"]
    assert (rules[2].extra, rules[2].extra_reply) == ("250:Odd, but fine", "250 Odd, but fine")
    assert (rules[2].multiline, rules[2].lf, rules[2].split) == ("bad", True, 3)
    assert rules[3].spec == "data,address=127.0.0.2,accept=never,client=127.0.0.*,session=2"
    assert rule_to_fields(rules[0]) == {"point": "any", "code": 421, "drop": True, "for": 30.0}
    for bad, complaint in ((dict(point="upload", extra=True), "extra must be a reply code"),
                           (dict(point="data", accept=True), "accept must be"),
                           (dict(point="any", duration=30), "unknown field 'duration'")):
        with pytest.raises(RuleError, match=complaint):
            rule_from_fields(bad)


def test_save_then_load_gives_the_same_rules(tmp_path):
    board = FaultBoard()
    for spec in ["upload=451,times=1", "download=426:Cable cut,after=100000,path=*.iso",
                 "upload=452:Disk full, sorry,every=5", 'cmd:MKD=550:No "dirs" here \\ sorry',
                 "list,delay=0.25,every=10", "upload,rate=262144,keep=no,chance=0.5,user=bob",
                 "cmd:PWD,reset", "data=425,drop,times=2"]:
        board.add(spec)
    disabled = board.add("download-start=450")
    board.update(disabled.id, enabled=False)
    # rules only the fields form can carry (a ", name=" inside text)
    board.add(rule_from_fields({"point": "upload", "code": 452, "message": "Full, times=3"}))
    board.add(rule_from_fields({"point": "download", "code": 450, "path": "a,b.iso"}))
    path = save_profile(tmp_path / "sub" / "saved.toml", board.rules())
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# FTP Fault Console profile: ftpfault --profile saved.toml\n")
    assert "server" not in tomllib.loads(text)
    loaded = load_profile(path)
    assert loaded.server == {}
    assert [r.replace(id="") for r in board.rules()] == loaded.rules
    assert [p.name for p in path.parent.iterdir()] == ["saved.toml"]  # no temporary left


def profile_error(path: Path) -> str:
    with pytest.raises(ProfileError) as caught:
        load_profile(path)
    return str(caught.value)


PROFILE_ERRORS = [
    # (profile text, the entry named, the problem named)
    ('[[fault]]\nspec = "upload=451,tims=1"\n', "fault #1", "unknown option 'tims'"),
    ('[[fault]]\nspec = "upload"\n[[fault]]\npoint = "upload"\ncode = "451"\n',
     "fault #2", "code must be a number"),
    ('[[fault]]\nspec = "upload=451"\ncode = 452\n', "fault #1", "give a spec or fields, not both"),
    ('[[fault]]\ncode = 451\n', "fault #1", "needs a point"),
    ('[[fault]]\npoint = "upload"\ncod = 451\n', "fault #1", "unknown field 'cod'"),
    ('[[fault]]\npoint = "uplod"\n', "fault #1", "unknown fault point 'uplod'"),
    ('[[fault]]\npoint = "upload"\ncode = 999\n', "fault #1", "code 999"),
    ('[[fault]]\npoint = "upload"\nafter = "ten"\n', "fault #1", "after must be a whole number"),
    ('[[fault]]\npoint = "upload"\nafter = -1\n', "fault #1", "after="),
    ('[[fault]]\npoint = "upload"\nafter = ' + "9" * 4400 + '\n', "not valid TOML", "too many digits"),
    ('[[fault]]\npoint = "upload"\nafter = ' + "9" * 40 + '\n', "fault #1", "too large"),
    ('[[fault]]\nspec = "upload,after=' + "9" * 4400 + '"\n', "fault #1", "too large"),
    ('[[fault]]\npoint = "list"\nafter = 10\n', "fault #1", "after= applies to the upload"),
    ('[[fault]]\npoint = "upload"\nkeep = "no"\n', "fault #1", "keep must be true or false"),
    ('[[fault]]\npoint = "upload"\ndrop = 1\n', "fault #1", "drop must be true or false"),
    ('[[fault]]\npoint = "upload"\nmessage = "Full"\n', "fault #1", "a message needs a code"),
    ('[[fault]]\npoint = "upload"\ncode = 452\nmessage = ""\n', "fault #1", "empty message"),
    ('[[fault]]\npoint = "upload"\npath = 7\n', "fault #1", "path must be a string"),
    ('[[fault]]\nspec = "upload"\nenabled = "yes"\n', "fault #1", "enabled must be true or false"),
    ('[[fault]]\nspec = 451\n', "fault #1", "spec must be a string"),
    ('[[fault]]\nspec = "upload=451,stall"\n', "fault #1", "stall sends no reply"),
    ('fault = [1]\n', "fault #1", "must be a table"),
    ('fault = "upload=451"\n', "fault", "must be a list of [[fault]] tables"),
    ('[[fault]]\nspec = "upload"\n[faults]\n', "[faults]", "unknown section"),
    ('[server]\nprt = 2121\n', "[server]", "unknown setting 'prt'"),
    ('server = 5\n', "[server]", "must be a table"),
    ('[[fault]]\nspec = "upload"\nspec2 "x"\n', "line 3", "not valid TOML"),
]


@pytest.mark.parametrize("text, entry, problem", PROFILE_ERRORS,
                         ids=[p for _, _, p in PROFILE_ERRORS])
def test_every_profile_error_names_the_file_the_entry_and_the_problem(tmp_path, text, entry,
                                                                      problem):
    path = write_profile(tmp_path / "bad.toml", text)
    message = profile_error(path)
    assert message.startswith(f"{path}: "), message
    assert entry in message and problem in message, message
    assert "\n" not in message


def test_a_missing_or_unreadable_profile_names_the_file(tmp_path):
    missing = tmp_path / "nope.toml"
    assert profile_error(missing) == f"{missing}: no such file"
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00")
    assert profile_error(binary).startswith(f"{binary}: cannot read it")
