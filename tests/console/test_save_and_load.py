"""The console's ``s`` (save the rules to a profile) and ``l`` (load a profile, replacing the
rules), with real keys under Pilot: a saved profile, served by ``ftpfault --headless``,
answers a client exactly as the console did; a bad profile or Esc changes nothing; the
rules loaded apply at once and show in the panel. ``s`` over a file the console did not
load (or save) asks first, n or Esc leaving it as it was; the loaded profile, or a link to
it, is written without a question; a file that is not TOML is left alone with one error.
What saving keeps of a file is in tests/engine/test_profiles_roundtrip.py.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.support.ftp import final, login, noop_ok, retrieve, store
from tests.support.pilot import SIZE, recording_notes, type_line, until
from tests.support.servers import write_profile
from tui.engine.points import STANDARD_MESSAGES
from tui.engine.profiles import load_profile


def scenario(port: int) -> list[str]:
    """What a client sees, one reply per step; files x.bin and y.iso must exist."""
    ftp = login(port)
    try:
        replies = [store(ftp, "a.bin", b"upload"), retrieve(ftp, "x.bin")[0],
                   retrieve(ftp, "y.iso")[0], final(lambda: ftp.sendcmd("MKD d1")),
                   final(lambda: ftp.sendcmd("MKD d2")), ftp.voidcmd("NOOP")]
        ftp.quit()
    finally:
        ftp.close()
    return [r.split("\n")[0] for r in replies]


def console_app(root: Path):
    from tui.console.app import FaultConsole
    from tui.engine.server import FaultServer as Server
    from tui.engine.settings import Settings

    return FaultConsole(Server(Settings(root=root, port=0, passive_ports=None)))


async def test_s_saves_the_rules_and_headless_serves_them_the_same(tmp_path, headless,
                                                                  monkeypatch):
    from tui.console.widgets.path_prompt import PathPrompt
    from tui.console.widgets.rule_form import RuleForm

    roots = {}
    for name in ("console", "headless"):
        roots[name] = tmp_path / name
        roots[name].mkdir()
        (roots[name] / "x.bin").write_bytes(b"plain")
        (roots[name] / "y.iso").write_bytes(b"image")
    monkeypatch.chdir(tmp_path)  # the prompt takes a path relative to where the console runs
    saved = tmp_path / "out" / "p.toml"
    app = console_app(roots["console"])
    notes = recording_notes(app)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("u", "4")  # upload armed, code 451
        await pilot.press("d", "d")  # download armed and disarmed again: saved disabled
        for spec in ("download=452:Disk full, sorry,path=*.iso", "cmd:MKD=550:No dirs here,times=1"):
            await pilot.press("a")
            assert isinstance(app.screen, RuleForm)
            app.screen.query_one("#spec").value = spec  # (typing it is test_app's business)
            await pilot.pause()
            await pilot.press("enter")
            assert not isinstance(app.screen, RuleForm)
        board_rules = app.server.board.rules()
        assert [(r.spec, r.enabled) for r in board_rules] == [
            ("upload=451", True), ("download=426", False),
            ("download=452:Disk full, sorry,path=*.iso", True),
            ("cmd:MKD=550:No dirs here,times=1", True)]

        await pilot.press("s")  # where it cannot be written: one error, the prompt is gone
        assert isinstance(app.screen, PathPrompt)
        app.screen.query_one("Input").value = "console/x.bin/p.toml"
        await pilot.press("enter")
        assert not isinstance(app.screen, PathPrompt)
        assert notes[-1][1] == "error" and notes[-1][0].startswith(
            "Cannot save console/x.bin/p.toml: "), notes

        await pilot.press("s")
        assert isinstance(app.screen, PathPrompt)
        await type_line(pilot, "out/p.toml")
        await pilot.press("enter")
        assert not isinstance(app.screen, PathPrompt)
        assert ("Saved 4 rule(s) to out/p.toml", "information") in notes
        seen_by_console = await asyncio.to_thread(scenario, app.server.port)

    expected = [f"451 {STANDARD_MESSAGES[451]}", "226 Transfer complete.", "452 Disk full, sorry",
                "550 No dirs here", '257 "/d2" directory created.', "200 I successfully did nothing'."]
    assert seen_by_console == expected
    assert [(r.spec, r.enabled) for r in load_profile(saved).rules] == [
        (r.spec, r.enabled) for r in board_rules]

    server = headless("--profile", str(saved), "--port", "0", "--root", str(roots["headless"]))
    seen_by_headless = scenario(server.port)
    assert seen_by_headless == seen_by_console
    server.wait_line(r"FAULT upload\b.* -> 451 .*\(STOR /a\.bin, rule r1\)")
    assert server.stop() == 0
    for name in ("console", "headless"):
        assert (roots[name] / "a.bin").read_bytes() == b"upload"
        assert sorted(p.name for p in roots[name].iterdir()) == ["a.bin", "d2", "x.bin", "y.iso"]


async def test_l_loads_a_profile_replacing_the_rules(tmp_path, monkeypatch):
    from tui.console.widgets.fault_panel import FaultPanel
    from tui.console.widgets.path_prompt import PathPrompt

    root = tmp_path / "root"
    root.mkdir()
    (root / "f.bin").write_bytes(b"file")
    path = write_profile(tmp_path / "load-me.toml", '''
[server]
seed = 3

[[fault]]
spec = "download=450,times=1"

[[fault]]
point = "upload-start"
code = 452
message = "Full, try later"
path = "*.tmp"

[[fault]]
spec = "list=451"
enabled = false
''')
    bad = write_profile(tmp_path / "bad.toml", '[[fault]]\nspec = "upload"\n[[fault]]\npoint = "upload"\ncode = 99\n')
    monkeypatch.chdir(tmp_path)
    app = console_app(root)
    notes = recording_notes(app)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("u")
        old = app.server.board.rules()
        assert [r.spec for r in old] == ["upload=426"]

        await pilot.press("l")  # a bad profile: one notification, the rules untouched
        await type_line(pilot, bad.name)
        await pilot.press("enter")
        assert notes[-1] == (f"{bad.name}: fault #2: code '99' is not a three-digit reply code",
                             "error")
        assert app.server.board.rules() == old

        await pilot.press("l")  # Esc: nothing happens
        assert isinstance(app.screen, PathPrompt)
        await pilot.press("escape")
        assert app.server.board.rules() == old

        await pilot.press("l")
        assert isinstance(app.screen, PathPrompt)
        await type_line(pilot, path.name)
        await pilot.press("enter")
        rules = app.server.board.rules()
        assert [(r.spec, r.enabled) for r in rules] == [
            ("download=450,times=1", True), ("upload-start=452:Full, try later,path=*.tmp", True),
            ("list=451", False)]
        assert notes[-1] == (f"Loaded 3 rule(s) from {path.name} ([server] settings apply at start only)",
                             "information")
        panel = app.query_one(FaultPanel)
        await until(pilot, lambda: sorted((r.point, r.rule_id) for r in panel.rows()) == sorted(
            [("upload", "")] + [(r.point, r.id) for r in rules]), "the panel showing the profile")

        def client():
            ftp = login(app.server.port)
            replies = [store(ftp, "a.bin", b"1"), store(ftp, "b.tmp", b"2"),
                       retrieve(ftp, "f.bin")[0], retrieve(ftp, "f.bin")[0],
                       final(lambda: ftp.retrlines("LIST", lambda line: None))]
            noop_ok(ftp)
            ftp.quit()
            return replies

        replies = await asyncio.to_thread(client)
        assert [r[:3] for r in replies] == ["226", "452", "450", "226", "226"]
        assert replies[1] == "452 Full, try later"
        assert not (root / "b.tmp").exists()

        await pilot.press("s")  # saving offers the profile just loaded
        assert isinstance(app.screen, PathPrompt)
        assert app.screen.query_one("Input").value == path.name
        await pilot.press("escape")


# --- saving over a file: the loaded profile is written, any other file is asked about


OTHERS = '''# someone else's profile
[server]
seed = 11

[[fault]]
spec = "login=530"
'''


async def save_to(app, pilot, name: str) -> None:
    from tui.console.widgets.path_prompt import PathPrompt

    await pilot.press("s")
    assert isinstance(app.screen, PathPrompt)
    await type_line(pilot, name)
    await pilot.press("enter")


async def test_s_asks_before_writing_over_a_file_it_did_not_load(tmp_path, monkeypatch):
    from tui.console.widgets.path_prompt import ConfirmPrompt

    root = tmp_path / "root"
    root.mkdir()
    other = write_profile(tmp_path / "other.toml", OTHERS)
    monkeypatch.chdir(tmp_path)
    app = console_app(root)
    notes = recording_notes(app)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("u", "4")
        await save_to(app, pilot, "other.toml")  # n: nothing written
        assert isinstance(app.screen, ConfirmPrompt)
        assert "other.toml is not the profile loaded here" in str(app.screen.query_one("Static").render())
        await pilot.press("n")
        assert not isinstance(app.screen, ConfirmPrompt)
        assert other.read_text() == OTHERS and notes == [] and app.profile is None

        await save_to(app, pilot, "other.toml")  # Esc is a no as well
        await pilot.press("escape")
        assert other.read_text() == OTHERS and notes == []

        await save_to(app, pilot, "other.toml")  # y: the faults are replaced, the rest stays
        await pilot.press("y")
        assert not isinstance(app.screen, ConfirmPrompt)
        assert notes == [("Saved 1 rule(s) to other.toml", "information")]
        saved = load_profile(other)
        assert saved.server == {"seed": 11} and [r.spec for r in saved.rules] == ["upload=451"]
        assert other.read_text().startswith("# someone else's profile\n[server]\nseed = 11\n")

        await pilot.press("d")  # now it is the console's profile: saved without a question
        await save_to(app, pilot, "other.toml")
        assert not isinstance(app.screen, ConfirmPrompt)
        assert notes[-1] == ("Saved 2 rule(s) to other.toml", "information")
        assert [r.spec for r in load_profile(other).rules] == ["upload=451", "download=426"]

        await save_to(app, pilot, "new.toml")  # a new file: nothing to ask
        assert not isinstance(app.screen, ConfirmPrompt)
        assert notes[-1] == ("Saved 2 rule(s) to new.toml", "information")


async def test_s_writes_the_loaded_profile_and_a_link_to_it_without_asking(tmp_path, monkeypatch):
    from tui.console.app import FaultConsole
    from tui.console.widgets.path_prompt import ConfirmPrompt
    from tui.engine.server import FaultServer
    from tui.engine.settings import Settings

    root = tmp_path / "root"
    root.mkdir()
    mine = write_profile(tmp_path / "mine.toml", OTHERS)
    (tmp_path / "link.toml").symlink_to("mine.toml")
    monkeypatch.chdir(tmp_path)
    app = FaultConsole(FaultServer(Settings(root=root, port=0, passive_ports=None)), profile=Path("mine.toml"))
    notes = recording_notes(app)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("u")
        await pilot.press("s")
        assert app.screen.query_one("Input").value == "mine.toml"
        await pilot.press("enter")  # the profile given with --profile
        assert not isinstance(app.screen, ConfirmPrompt)
        assert notes == [("Saved 1 rule(s) to mine.toml", "information")]
        await save_to(app, pilot, "link.toml")  # the same file by another name
        assert not isinstance(app.screen, ConfirmPrompt)
        assert notes[-1] == ("Saved 1 rule(s) to link.toml", "information")
    assert (tmp_path / "link.toml").is_symlink()
    assert load_profile(mine).server == {"seed": 11}
    assert [r.spec for r in load_profile(mine).rules] == ["upload=426"]


async def test_s_over_a_file_that_is_not_toml_leaves_it_with_one_error(tmp_path, monkeypatch):
    from tui.console.widgets.path_prompt import ConfirmPrompt

    root = tmp_path / "root"
    root.mkdir()
    notes_file = tmp_path / "notes.toml"
    notes_file.write_text("these are my notes = = =\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    app = console_app(root)
    notes = recording_notes(app)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("u")
        await save_to(app, pilot, "notes.toml")
        assert isinstance(app.screen, ConfirmPrompt)
        await pilot.press("y")
        assert len(notes) == 1 and notes[0][1] == "error", notes
        assert notes[0][0].startswith("notes.toml: not valid TOML, not overwritten")
        assert notes_file.read_text(encoding="utf-8") == "these are my notes = = =\n"
        assert app.is_running and app.profile is None
        await pilot.press("d")  # the console goes on
        assert [r.spec for r in app.server.board.rules()] == ["upload=426", "download=426"]
