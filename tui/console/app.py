"""The console: the fault panel on top, live sessions and transfers, the log, the footer.

The server runs on a thread worker with its own IOLoop. The UI never calls into it: it
sets rules on the board and drains the event queue on a timer, in batches.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path

from rich.markup import escape
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, Static
from textual.worker import Worker, WorkerState

from ..engine.logline import visible
from ..engine.points import PICKER_CODES
from ..engine.profiles import ProfileError, load_profile, save_profile
from ..engine.board import FaultBoard, RuleStats
from ..engine.rules import Rule, RuleError
from ..engine.server import FaultServer
from .keys import KEYS
from .messages import ArmRequested, CodeRequested
from .widgets.fault_panel import FaultPanel, FaultRow
from .widgets.help import HelpScreen
from .widgets.live import EventLog, SessionTable, TransferTable
from .widgets.path_prompt import PathPrompt
from .widgets.rule_form import RuleForm

DEFAULT_PROFILE = Path("ftpfault-profile.toml")
HANG_UP_GRACE = 2.0  # seconds the console may take to leave after its terminal is gone
REFRESH_INTERVAL = 1 / 15  # seconds between drains of the event queue
EVENT_QUEUE_SIZE = 50_000
FLOOD = 50  # events per tick above which the tables refresh at 5 Hz instead of 15
SOURCE = "console"  # who changed a rule, in its rule event


def bindings() -> list[Binding]:
    """The key table as Textual bindings: the footer shows them, the help lists them."""
    groups = {key.group: Binding.Group(key.group, compact=True) for key in KEYS if key.group}
    return [Binding(key.key, key.action, key.label, show=key.show, key_display=key.shown_as or None,
                    id=key.id, tooltip=key.help, group=groups.get(key.group))
            for key in KEYS]


class FaultConsole(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "FTP Fault Console"
    BINDINGS = bindings()

    def __init__(self, server: FaultServer, control_url: str | None = None,
                 profile: Path | None = None) -> None:
        super().__init__()
        self.server = server
        self.control_url = control_url
        self.profile = profile  # where s saves and l loads, unless told otherwise
        self.feed = server.bus.subscribe(maxlen=EVENT_QUEUE_SIZE)
        self.dropped_seen = 0
        self.table_backlog: list = []
        self.ticks = 0
        self.status_text = ""
        self.last_row: FaultRow | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="status")
        yield FaultPanel(self.server.board, id="faults")
        with Horizontal(id="tables"):
            yield SessionTable(id="sessions")
            yield TransferTable(id="transfers")
        yield EventLog(id="log")
        yield Footer()

    def on_mount(self) -> None:
        # kept, not queried: the help screen or palette may be the active screen
        self.panel = self.query_one(FaultPanel)
        self.sessions = self.query_one(SessionTable)
        self.transfers = self.query_one(TransferTable)
        self.log_view = self.query_one(EventLog)
        self.status_bar = self.query_one("#status", Static)
        self.run_worker(self.server.serve, name="ftp-server", thread=True)
        self.set_interval(REFRESH_INTERVAL, self.refresh_views)
        self.refresh_views()
        # Textual handles neither SIGTERM nor the terminal going away (SIGHUP)
        handlers = {signal.SIGTERM: self.exit, signal.SIGHUP: self.hang_up}
        for signum, handler in handlers.items():
            try:
                asyncio.get_running_loop().add_signal_handler(signum, handler)
            except (NotImplementedError, RuntimeError, ValueError):
                pass

    def hang_up(self) -> None:
        """The terminal is gone: free the port first, then leave. Restoring a terminal that
        no longer exists can block inside Textual's writer, so a watchdog ends the process
        if that takes more than a moment."""
        self.server.stop(timeout=0)
        watchdog = threading.Timer(HANG_UP_GRACE, os._exit, args=(0,))
        watchdog.daemon = True
        watchdog.start()
        self.exit()

    def on_unmount(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGHUP):
            try:
                asyncio.get_running_loop().remove_signal_handler(signum)
            except (NotImplementedError, RuntimeError, ValueError):
                pass
        self.server.stop()
        self.server.wait_stopped(2)
        self.server.bus.unsubscribe(self.feed)

    # --- the one place server news reaches the screen

    def refresh_views(self) -> None:
        if not self.is_running:  # shutting down: the widgets are going away
            return
        try:
            self.apply_news(self.feed.drain())
        except Exception as err:  # a bug in a view must not end the console and its server
            self.show_error("the console could not show an update", err)

    def show_error(self, what: str, err: BaseException) -> None:
        """Errors the console survives end up here: one line in the log, one notice."""
        self.log_view.write_line(visible(f"ERROR {what}: {err!r}"))
        self.notify(f"{what}: {err}", severity="error", timeout=10, markup=False)

    def apply_news(self, batch: list) -> None:
        self.log_view.apply(batch)
        # Tables cost a redraw of every visible row per update: under a flood they follow
        # at a third of the rate (the server shares the GIL with this thread).
        self.table_backlog.extend(batch)
        self.ticks += 1
        if self.table_backlog and (len(self.table_backlog) < FLOOD or self.ticks % 3 == 0):
            self.sessions.apply(self.table_backlog)
            self.transfers.apply(self.table_backlog)
            self.table_backlog = []
        if self.feed.dropped != self.dropped_seen:
            self.log_view.write_line(f"... {self.feed.dropped - self.dropped_seen} events dropped (console too slow)")
            self.dropped_seen = self.feed.dropped
        self.panel.sync()
        armed = self.server.board.armed_count()
        # most important first: on a narrow terminal the root path is what gets cut
        status = (
            f"[b{' reverse' if armed else ''}] faults armed {armed} [/]  [b]{escape(self.server.url)}[/b]"
            f"{' (FTPS)' if self.server.tls else ''}  "
            f"user [b]{escape(self.server.settings.user)}[/b]  "
            + (f"control [b]{escape(self.control_url)}[/b]  " if self.control_url else "")
            + f"root [b]{escape(str(self.server.root))}[/b]"
        )
        if status != self.status_text:
            self.status_text = status
            self.status_bar.update(status)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Errors from the server thread end up here, and only here."""
        if event.worker.name == "ftp-server" and event.state == WorkerState.ERROR:
            error = event.worker.error
            self.show_error("the FTP server stopped", error)

    # --- actions (keys, footer, command palette)

    # --- the one writer to the board: keys, the panel's messages and the forms end here

    def change_board(self, change: Callable[[FaultBoard], object]) -> object:
        """Apply a change to the board; the panel redraws from the board's new version."""
        try:
            result = change(self.server.board)
        except (RuleError, KeyError) as err:  # KeyError: the rule left the board meanwhile
            self.notify(f"{err}", severity="error", markup=False)
            return None
        self.panel.sync()
        return result

    def arm(self, row: FaultRow, armed: bool) -> None:
        if row.rule_id:
            self.change_board(lambda board: board.update(row.rule_id, source=SOURCE, enabled=armed))
        elif armed:  # an unarmed quick row: its first rule (the panel gives it this row)
            self.change_board(
                lambda board: board.add(Rule(point=row.point, code=row.pending_code), source=SOURCE))

    def set_code(self, row: FaultRow, code: int) -> None:
        if not row.rule_id:  # an unarmed quick row: the code it will arm with
            row.pending_code = code
            row.show(None, RuleStats())
            return
        # a custom message belongs to the old code; the new code gets its standard text
        self.change_board(lambda board: board.update(row.rule_id, source=SOURCE,
                                                      code=code or None, message=None))

    def on_arm_requested(self, message: ArmRequested) -> None:
        self.arm(message.row, message.armed)

    def on_code_requested(self, message: CodeRequested) -> None:
        self.set_code(message.row, message.code)

    # --- actions (keys, footer, command palette)

    def action_toggle(self, point: str) -> None:
        """The quick keys: arm or disarm a point's first rule, and focus its row."""
        row = self.panel.row_for(point)
        self.arm(row, not (row.rule and row.rule.enabled))
        self.panel.focus_row(row)
        self.last_row = row

    def action_code(self, code: int) -> None:
        row = self.focused_row() or self.panel.row_for("upload")
        self.set_code(row, code)
        self.last_row = row

    def focused_row(self) -> FaultRow | None:
        row = self.panel.current_row() or self.last_row
        return row if row is not None and row.is_attached else None

    def action_toggle_row(self) -> None:
        row = self.panel.current_row()  # only with the focus on a rule's row
        if row is not None:
            self.arm(row, not (row.rule and row.rule.enabled))

    def action_add_rule(self) -> None:
        def added(new: Rule | None) -> None:
            rule = new and self.change_board(lambda board: board.add(new, source=SOURCE))
            if rule:
                self.last_row = next(r for r in self.panel.rows() if r.rule_id == rule.id)
                self.panel.focus_row(self.last_row)

        self.push_screen(RuleForm(), added)

    def action_edit_rule(self) -> None:
        row = self.panel.current_row()
        if row is None or row.rule is None:
            self.notify("Focus a rule first (u, d, or the arrow keys in the fault panel).")
            return
        rule_id = row.rule_id

        def edited(rule: Rule | None) -> None:
            if rule is not None:
                self.change_board(lambda board: board.replace(rule_id, rule, source=SOURCE))

        self.push_screen(RuleForm(row.rule), edited)

    def action_delete_rule(self) -> None:
        row = self.panel.current_row()
        if row is None or row.rule is None:
            self.notify("Focus a rule first (u, d, or the arrow keys in the fault panel).")
            return
        rows = self.panel.rows()
        self.change_board(lambda board: board.remove(row.rule_id, source=SOURCE))
        left = [r for r in self.panel.rows() if r in rows and r is not row]
        if left:  # keep the focus in the panel
            self.last_row = left[min(rows.index(row), len(left) - 1)]
            self.panel.focus_row(self.last_row)

    def action_save_profile(self) -> None:
        def save(path: Path | None) -> None:
            if path is None:
                return
            rules = self.server.board.rules()
            try:
                save_profile(path, rules)
            except OSError as err:
                self.notify(f"Cannot save {path}: {err.strerror}", severity="error", markup=False)
                return
            self.profile = path
            self.notify(f"Saved {len(rules)} rule(s) to {path}", markup=False)

        default = str(self.profile or DEFAULT_PROFILE)
        self.push_screen(PathPrompt("Save the rules to a profile", default,
                                    f"Load it with: ftpfault --profile {default}"), save)

    def action_load_profile(self) -> None:
        def load(path: Path | None) -> None:
            if path is None:
                return
            try:
                profile = load_profile(path)
            except ProfileError as err:
                self.notify(str(err), severity="error", timeout=10, markup=False)
                return
            source = f"profile {path}"

            def replace_rules(board: FaultBoard) -> None:
                board.clear(source=source)
                for rule in profile.rules:
                    board.add(rule, source=source)

            self.change_board(replace_rules)
            self.profile = path
            note = " ([server] settings apply at start only)" if profile.server else ""
            self.notify(f"Loaded {len(profile.rules)} rule(s) from {path}{note}", markup=False)

        self.push_screen(PathPrompt("Load a profile (replaces the rules)", str(self.profile or DEFAULT_PROFILE)),
                         load)

    def action_disarm_all(self) -> None:
        self.change_board(lambda board: board.disarm_all(source=SOURCE))

    def action_clear_log(self) -> None:
        self.log_view.clear()

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for key in KEYS:
            if key.palette:
                yield SystemCommand(f"{key.help} ({key.display})", f"key {key.display}",
                                    partial(self.run_action, key.action))
