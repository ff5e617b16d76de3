"""Saving over a profile that is already there (``s`` in the console, ``save_profile``):
the rules are the console's, everything else stays the user's. Its ``[server]`` table and
the comments outside the ``[[fault]]`` tables come back as they were written, wherever
``[server]`` stands; the file keeps its mode; a symlink stays a link and the file it
points to is written; a file that is not TOML (or not UTF-8) is left alone with one error.

How the console asks before writing over a file it did not load is in
tests/console/test_save_and_load.py.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tests.support.servers import write_profile
from tui.engine.profiles import ProfileError, load_profile, save_profile
from tui.engine.rules import parse_rule

SERVER = '''# Nightly CI: flaky uploads, a fixed seed.
# Keep this file in git; the console rewrites only the faults.

[server]
port = 2121      # the port the job expects
seed = 7
# where the job's fixtures live
root = "fixtures"
passive_ports = [60000, 60010]
'''

FAULTS = '''
# the faults (the console's)
[[fault]]
spec = "upload=451,times=1"
# a comment of the first fault's

[[fault]]
point = "download"
code = 426
after = 1000
'''

AFTER = '''
# Notes after the faults: how to run it
#   ftpfault --profile nightly.toml --headless
'''

NEW_RULES = [parse_rule("list=450"), parse_rule("upload=452:Full, sorry,path=*.iso").replace(enabled=False),
             parse_rule("cmd:MKD=550,times=2")]


def specs(path: Path) -> list[tuple[str, bool]]:
    return [(r.spec, r.enabled) for r in load_profile(path).rules]


def saved_over(path: Path, rules=NEW_RULES) -> str:
    before = load_profile(path)
    assert save_profile(path, rules) == path.resolve()
    after = load_profile(path)
    assert after.server == before.server
    assert [(r.spec, r.enabled) for r in after.rules] == [(r.spec, r.enabled) for r in rules]
    return path.read_text(encoding="utf-8")


def test_server_first_then_faults_keeps_server_and_every_comment_outside_the_faults(tmp_path):
    path = write_profile(tmp_path / "nightly.toml", SERVER + FAULTS + AFTER)
    text = saved_over(path)
    assert text.startswith(SERVER + "\n# the faults (the console's)\n[[fault]]\n")
    assert text.endswith(AFTER)
    assert "a comment of the first fault's" not in text  # inside [[fault]]: the console's
    assert "upload=451" not in text and "after = 1000" not in text


def test_faults_first_then_server_keeps_the_comment_above_server(tmp_path):
    path = write_profile(tmp_path / "p.toml", FAULTS.lstrip("\n") + "\n" + SERVER)
    text = saved_over(path)
    assert text.endswith("\n" + SERVER)  # its comments above [server] included


def test_saving_twice_changes_nothing_the_second_time(tmp_path):
    path = write_profile(tmp_path / "p.toml", SERVER + FAULTS + AFTER)
    once = saved_over(path)
    assert saved_over(path) == once


def test_no_rules_left_keeps_server_and_the_comments(tmp_path):
    path = write_profile(tmp_path / "p.toml", SERVER + FAULTS + AFTER)
    text = saved_over(path, [])
    assert SERVER in text and AFTER.strip() in text
    assert saved_over(path, NEW_RULES).count("[[fault]]") == len(NEW_RULES)


def test_a_profile_with_only_server_gets_its_faults_after_it(tmp_path):
    path = write_profile(tmp_path / "p.toml", SERVER)
    text = saved_over(path)
    assert text.startswith(SERVER)


@pytest.mark.parametrize("mode", [0o640, 0o600, 0o644, 0o664, 0o400])
def test_the_file_keeps_its_mode(tmp_path, mode):
    path = write_profile(tmp_path / "p.toml", SERVER + FAULTS)
    path.chmod(mode)
    saved_over(path)
    assert stat.S_IMODE(path.stat().st_mode) == mode


def test_a_new_file_is_made_as_open_would_make_it(tmp_path):
    umask = os.umask(0o027)
    try:
        path = save_profile(tmp_path / "new" / "p.toml", NEW_RULES)
    finally:
        os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert specs(path) == [(r.spec, r.enabled) for r in NEW_RULES]
    assert path.read_text().startswith("# FTP Fault Console profile: ftpfault --profile p.toml\n")


def test_no_temporary_file_is_left_beside_it(tmp_path):
    path = write_profile(tmp_path / "p.toml", SERVER + FAULTS)
    saved_over(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.toml"]


@pytest.mark.parametrize("relative", [True, False], ids=["relative-link", "absolute-link"])
def test_a_symlink_stays_a_link_and_its_file_is_written(tmp_path, relative):
    (tmp_path / "shared").mkdir()
    real = write_profile(tmp_path / "shared" / "real.toml", SERVER + FAULTS + AFTER)
    real.chmod(0o640)
    link = tmp_path / "mine.toml"
    link.symlink_to(Path("shared") / "real.toml" if relative else real)
    target = os.readlink(link)
    assert save_profile(link, NEW_RULES) == real.resolve()
    assert link.is_symlink() and os.readlink(link) == target
    assert specs(link) == specs(real) == [(r.spec, r.enabled) for r in NEW_RULES]
    assert real.read_text().startswith(SERVER) and stat.S_IMODE(real.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.toml", "shared"]
    assert sorted(p.name for p in (tmp_path / "shared").iterdir()) == ["real.toml"]


def test_a_link_to_a_link_writes_the_last_file(tmp_path):
    real = write_profile(tmp_path / "real.toml", SERVER)
    (tmp_path / "middle.toml").symlink_to("real.toml")
    (tmp_path / "first.toml").symlink_to("middle.toml")
    save_profile(tmp_path / "first.toml", NEW_RULES)
    assert (tmp_path / "first.toml").is_symlink() and (tmp_path / "middle.toml").is_symlink()
    assert real.read_text().startswith(SERVER) and len(load_profile(real).rules) == len(NEW_RULES)


def test_a_dangling_link_gets_its_file_made(tmp_path):
    link = tmp_path / "p.toml"
    link.symlink_to("made-here.toml")
    save_profile(link, NEW_RULES)
    assert link.is_symlink() and (tmp_path / "made-here.toml").is_file()
    assert len(load_profile(link).rules) == len(NEW_RULES)


@pytest.mark.parametrize("content, complaint", [
    (b"this is not toml = = =\n", "not valid TOML, not overwritten"),
    (b"#!/bin/sh\necho 'a shell script, not a profile'\n", "not valid TOML, not overwritten"),
    (b"[server\nport = 1\n", "not valid TOML, not overwritten"),
    (b"\xff\xfe\x00b\x00i\x00n\x00", "cannot read it"),
], ids=["garbage", "script", "broken-table", "not-utf8"])
def test_a_file_that_is_not_a_profile_is_not_overwritten(tmp_path, content, complaint):
    path = tmp_path / "notes.toml"
    path.write_bytes(content)
    with pytest.raises(ProfileError) as caught:
        save_profile(path, NEW_RULES)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and complaint in message and "\n" not in message
    assert path.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.toml"]
