"""Rules from the keyboard: ``a`` adds one through the form (checked as it is typed, with
pickers that write into the line), ``e`` edits the focused one, space toggles it, Delete
removes it, the arrows walk the rules; and the panel and header follow rules that the
control API adds, changes and removes, since the console and the API share one board.
"""

from __future__ import annotations

import asyncio
import ftplib
import re

from textual.widgets import Select, Switch
from textual.widgets.select import InvalidSelectValueError

from tests.support.control import Http
from tests.support.pilot import SIZE, armed_on_screen, row, type_line, until, upload
from tests.support.servers import connect
from tui.console.app import FaultConsole
from tui.console.widgets.rule_form import GRAMMAR, RuleForm
from tui.engine.points import POINTS
from tui.engine.rules import SECTIONS
from tui.engine.api import ControlAPI
from tui.engine.server import FaultServer


def form(app) -> RuleForm:
    assert isinstance(app.screen, RuleForm), app.screen
    return app.screen


def ftp_reply(server, call) -> str:
    ftp = connect(server)
    try:
        return call(ftp)
    except (ftplib.error_temp, ftplib.error_perm) as err:
        assert ftp.voidcmd("SYST").startswith("215")
        return str(err)
    finally:
        ftp.close()


async def test_a_adds_a_rule_that_runs_out_and_shows_so(console):
    server = console.server
    async with console.run_test(size=SIZE) as pilot:
        await pilot.press("a")
        await type_line(pilot, "upload=452:Quota exceeded,times=1")
        verdict = str(form(console).query_one("#verdict").render())
        assert verdict.startswith("✓") and "once" in verdict and "452 Quota exceeded" in verdict
        await pilot.press("enter")
        assert not isinstance(console.screen, RuleForm)
        (rule,) = server.board.rules()
        assert rule.spec == "upload=452:Quota exceeded,times=1"
        added = row(console, "upload")
        assert added.rule_id == rule.id and console.panel.current_row() is added
        assert armed_on_screen(console, "upload")
        assert (await asyncio.to_thread(upload, server, "q.bin")).startswith("452 Quota exceeded")
        assert (await asyncio.to_thread(upload, server, "q.bin")).startswith("226")  # once only
        await until(pilot, lambda: str(added.query_one(".state").render()) == "spent", "the spent state")
        assert str(added.query_one(".count").render()) == "fired 1 · left 0"
        assert not added.query_one(Switch).value
        await pilot.press("space")  # arming it again gives it its times back
        assert server.board.stats(rule.id).remaining == 1
        assert str(added.query_one(".state").render()) == "ARMED"


async def test_the_form_checks_the_line_as_you_type(console):
    async with console.run_test(size=SIZE) as pilot:
        await pilot.press("a")
        await type_line(pilot, "upload=999")
        verdict = str(form(console).query_one("#verdict").render())
        assert verdict.startswith("✗") and "999" in verdict
        assert form(console).query_one("#save").disabled
        await pilot.press("enter")  # not saved: the form stays
        assert isinstance(console.screen, RuleForm)
        await type_line(pilot, "download,after=10,wat=1")
        assert "unknown option 'wat'" in str(form(console).query_one("#verdict").render())
        await pilot.press("escape")
        assert not isinstance(console.screen, RuleForm)
        assert console.server.board.rules() == []


async def test_the_pickers_write_into_the_line(console):
    async with console.run_test(size=SIZE) as pilot:
        await pilot.press("a")
        await type_line(pilot, "upload,times=2")
        form(console).query_one("#point-picker", Select).value = "download-start"
        await pilot.pause()
        form(console).query_one("#code-picker", Select).value = 550
        await pilot.pause()
        spec = form(console).query_one("#spec")
        assert spec.value == "download-start=550,times=2"
        await pilot.press("enter")
        (rule,) = console.server.board.rules()
        assert (rule.point, rule.code, rule.times) == ("download-start", 550, 2)
        (console.server.root / "f.bin").write_bytes(b"data")
        reply = await asyncio.to_thread(ftp_reply, console.server,
                                        lambda f: f.retrbinary("RETR f.bin", lambda b: None))
        assert reply.startswith("550 ")


async def test_the_pickers_follow_the_line_and_lead_to_the_next_choice(console):
    async with console.run_test(size=SIZE) as pilot:
        await pilot.press("a")
        points, codes = (form(console).query_one(f"#{name}-picker", Select) for name in ("point", "code"))
        await type_line(pilot, "download=451,times=2")
        assert (points.value, codes.value) == ("download", 451)  # typing shows in the pickers
        await type_line(pilot, "cmd:CWD=550")  # not a point of the picker: it goes blank
        assert (points.value, codes.value) == (Select.NULL, 550)
        assert form(console).query_one("#spec").value == "cmd:CWD=550"  # and the line is untouched
        await type_line(pilot, "upload")
        points.focus()
        points.value = "list"  # picking a point: the code picker comes next
        await pilot.pause()
        assert form(console).focused is codes
        assert form(console).query_one("#spec").value == "list"
        codes.value = 450
        await pilot.pause()
        assert form(console).focused is form(console).query_one("#spec")
        await pilot.press("enter")
        assert [r.spec for r in console.server.board.rules()] == ["list=450"]


def test_the_forms_grammar_names_every_point_and_option():
    text = GRAMMAR.replace("[b]", "").replace("[/b]", "").replace("\\[", "[")
    for point in POINTS:
        assert point in text, point
    for _, options in SECTIONS:
        for option in options:
            assert option.title in text, option.title


async def test_the_code_picker_offers_the_codes_of_the_point(console):
    """A start point takes a 1xx and no 2xx, a completion point the other way round, the
    login neither: the picker offers what the point takes (a code it does not offer is
    refused by the Select), as points.py says."""
    def offers(code: int) -> bool:
        try:
            form(console).query_one("#code-picker", Select).value = code
        except InvalidSelectValueError:
            return False
        return True

    async with console.run_test(size=SIZE) as pilot:
        await pilot.press("a")
        assert offers(226) and not offers(150)  # upload, the first point
        form(console).query_one("#point-picker", Select).value = "download-start"
        await pilot.pause()
        assert offers(125) and not offers(226)
        form(console).query_one("#point-picker", Select).value = "login"
        await pilot.pause()
        assert not offers(125) and not offers(230) and offers(421)
        await pilot.pause()
        assert form(console).query_one("#spec").value == "login=421"


async def test_a_rule_for_some_seconds_counts_down_in_its_row(console):
    server = console.server
    async with console.run_test(size=SIZE) as pilot:
        rule = server.board.add("upload=451,for=30")
        count = lambda: str(row(console, "upload").query_one(".count").render())  # noqa: E731
        await until(pilot, lambda: count().endswith(" s left"), "the time left")
        assert re.fullmatch(r"fired 0 · (\d+) s left", count()) and int(count().split()[3]) <= 30
        server.board.update(rule.id, enabled=False)
        await until(pilot, lambda: count() == "fired 0", "no countdown once off")


async def test_e_edits_the_focused_rule(console):
    server = console.server
    async with console.run_test(size=SIZE) as pilot:
        await pilot.press("u")
        rule_id = server.board.first("upload").id
        await pilot.press("e")
        assert form(console).query_one("#spec").value == "upload=426"
        await type_line(pilot, "upload=451,every=2")
        await pilot.press("enter")
        rule = server.board.get(rule_id)
        assert (rule.code, rule.every, rule.enabled) == (451, 2, True)
        replies = [await asyncio.to_thread(upload, server, f"{n}.bin") for n in range(4)]
        assert [r[:3] for r in replies] == ["226", "451", "226", "451"]
        await until(pilot, lambda: "every 2" in str(row(console, "upload").query_one(".summary").render()),
                    "the new trigger in the row")


async def test_space_toggles_and_delete_removes_the_focused_rule(console):
    server = console.server
    async with console.run_test(size=SIZE) as pilot:
        await pilot.press("a")
        await type_line(pilot, "cmd:NOOP=502")
        await pilot.press("enter")
        (rule,) = server.board.rules()
        noop_row = next(r for r in console.panel.rows() if r.rule_id == rule.id)
        assert console.panel.current_row() is noop_row
        assert (await asyncio.to_thread(ftp_reply, server, lambda f: f.voidcmd("NOOP"))).startswith("502")
        await pilot.press("space")
        assert not server.board.get(rule.id).enabled
        assert (await asyncio.to_thread(ftp_reply, server, lambda f: f.voidcmd("NOOP"))).startswith("200")
        await pilot.press("space")
        assert server.board.get(rule.id).enabled
        await pilot.press("delete")
        assert server.board.rules() == []
        assert noop_row not in console.panel.rows()
        assert [r.point for r in console.panel.rows()] == ["upload", "download"]
        assert (await asyncio.to_thread(ftp_reply, server, lambda f: f.voidcmd("NOOP"))).startswith("200")


async def test_arrow_keys_walk_the_rules(console):
    async with console.run_test(size=SIZE) as pilot:
        await pilot.press("u")  # focus on the upload row
        await pilot.press("down", "space")
        assert console.server.board.first("download").enabled
        await pilot.press("up", "space")
        assert not console.server.board.first("upload").enabled


# --- one board with the control API


async def test_console_header_and_panel_follow_the_api(settings):
    server = FaultServer(settings)
    control = ControlAPI(server, "127.0.0.1", 0).start()
    client = Http(control.url)
    app = FaultConsole(server, control_url=control.url)

    def row(rule_id: str):
        return next((r for r in app.panel.rows() if r.rule_id == rule_id), None)

    try:
        async with app.run_test(size=(140, 40)) as pilot:
            assert f"control {control.url}" in str(app.query_one("#status").render())

            posted = await asyncio.to_thread(client.post_rule, "cmd:CWD=550,times=3")
            shown = await until(pilot, lambda: (r := row(posted["id"])) and r.is_mounted
                                and r.query_one(Switch).value and r, "the API's rule armed in the panel")
            assert shown.point == "cmd:CWD" and "fired 0 · left 3" in str(shown.query_one(".count").render())
            await until(pilot, lambda: "faults armed 1" in str(app.query_one("#status").render()),
                        "the header's count")

            await asyncio.to_thread(client.call, "PATCH", f"/rules/{posted['id']}", {"enabled": False})
            await until(pilot, lambda: row(posted["id"]).query_one(Switch).value is False,
                        "the panel to show the rule off")

            await pilot.press("u")  # the console arms the upload fault...
            listed = await asyncio.to_thread(client.get, "/rules")
            upload = next(r for r in listed if r["point"] == "upload")
            assert upload["enabled"] is True and upload["code"] == 426  # ...and the API sees it
            assert row(upload["id"]) is not None

            await asyncio.to_thread(client.call, "DELETE", f"/rules/{posted['id']}")
            await until(pilot, lambda: row(posted["id"]) is None, "the deleted rule to leave the panel")
            await asyncio.to_thread(client.call, "DELETE", "/rules")
            await until(pilot, lambda: not any(r.rule_id for r in app.panel.rows()), "an empty board")
            await until(pilot, lambda: "faults armed 0" in str(app.query_one("#status").render()),
                        "the header's count")
    finally:
        control.stop()
        server.stop()
