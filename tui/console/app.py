"""The console: the fault panel on top, live sessions and transfers, the log, the footer.

The server runs on a thread worker with its own IOLoop. The UI never calls into it: it
sets rules on the board and drains the event queue on a timer, in batches.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path

from rich.markup import escape
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Container
from textual.events import Resize
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static
from textual.worker import Worker, WorkerState

from ..engine.logline import visible
from ..engine.profiles import ProfileError, load_profile, save_profile
from ..engine.report import Account, summary_line
from ..engine.board import FaultBoard, RuleStats
from ..engine.events import Event
from ..engine.ftp.data import DATA_BUFFER
from ..engine.rules import Rule, RuleError
from ..engine.server import FaultServer
from .keys import KEYS
from .messages import ArmRequested, CodeRequested
from .widgets.fault_panel import FaultPanel, FaultRow
from .widgets.help import HelpScreen
from .widgets.event_log import FILTERS, EventLog
from .widgets.live import ReportTable, SessionTable, TransferTable
from .widgets.path_prompt import ConfirmPrompt, PathPrompt, TextPrompt
from .widgets.rule_form import RuleForm
from .widgets.transcript import TranscriptScreen, header_for

DEFAULT_PROFILE = Path("ftpfault-profile.toml")
HANG_UP_GRACE = 2.0  # seconds the console may take to leave after its terminal is gone
REFRESH_INTERVAL = 1 / 15  # seconds between drains of the event queue
BUSY_DRAW_INTERVAL = 0.5  # while bytes flow, the screen is redrawn at most this often
REPORT_INTERVAL = 1.0  # seconds between looks at the client report, when there is news
EVENT_QUEUE_SIZE = 50_000
SWITCH_INTERVAL = 0.0005  # seconds a thread may hold the GIL while another waits for it
DEFAULT_SWITCH_INTERVAL = sys.getswitchinterval()
WIDE = 120  # columns from which Sessions and Transfers stand side by side
SOURCE = "console"  # who changed a rule, in its rule event
DEFAULT_CHAOS = 0.1  # chaos's probability when k turns it on and none was given


def same_file(path: Path, other: Path | None) -> bool:
    try:
        return other is not None and path.samefile(other)
    except OSError:  # (the other one is gone)
        return False


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
                 profile: Path | None = None, token: str | None = None,
                 warnings: Iterable[str] = ()) -> None:
        super().__init__()
        self.server = server
        self.control_url = control_url
        self.token = token
        self.warnings = list(warnings)
        self.profile = profile  # where s saves and l loads, unless told otherwise
        self.feed = server.bus.subscribe(maxlen=EVENT_QUEUE_SIZE)
        self.dropped_seen = 0
        self.backlog: list[Event] = []  # events not drawn yet (while bytes flow, a few times a second)
        self.next_draw = 0.0
        self.next_report = 0.0
        self.report_version = -1
        self.summary_text = ""
        self.status_text = ""
        self.status_shown: tuple = ()  # what show_status() last drew from (armed, chaos, report)
        self.last_row: FaultRow | None = None
        self.transcript: TranscriptScreen | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="status")
        if self.warnings:
            yield Static("\n".join(f"warning: {w}" for w in self.warnings), id="warnings", markup=False)
        yield FaultPanel(self.server.board, id="faults")
        with Container(id="tables"):
            yield SessionTable(id="sessions")
            yield TransferTable(id="transfers")
        with Container(id="bottom"):
            yield EventLog(id="log")
            yield ReportTable(id="report", classes="-hidden")
        yield Footer()

    def on_mount(self) -> None:
        # kept, not queried: the help screen or palette may be the active screen
        self.panel = self.query_one(FaultPanel)
        self.sessions = self.query_one(SessionTable)
        self.transfers = self.query_one(TransferTable)
        self.log_view = self.query_one(EventLog)
        self.report_view = self.query_one(ReportTable)
        self.status_bar = self.query_one("#status", Static)
        # the server's loop shares the GIL with this thread: hand it back sooner than
        # Python's 5 ms, so drawing the screen never holds a transfer up for long
        sys.setswitchinterval(SWITCH_INTERVAL)
        self.server.send_chunk(DATA_BUFFER)  # and move a MiB, not 64 KiB, each time it has it
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

    def on_resize(self, event: Resize) -> None:
        """Narrow terminals stack the tables, and show the report instead of the log."""
        self.set_class(event.size.width < WIDE, "-narrow")

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
        sys.setswitchinterval(DEFAULT_SWITCH_INTERVAL)

    # --- the one place server news reaches the screen

    def refresh_views(self) -> None:
        """The timer: nothing new, nothing done; while bytes flow, a few draws a second."""
        if not self.is_running:  # shutting down: the widgets are going away
            return
        try:
            batch = self.feed.drain()
            if batch:
                self.backlog += batch
            now = time.monotonic()
            if self.backlog and now >= self.next_draw:
                batch, self.backlog = self.backlog, []
                self.apply_news(batch)
                self.next_draw = now + (BUSY_DRAW_INTERVAL if self.server.running else 0)
                self.next_report = min(self.next_report, now + REPORT_INTERVAL)
            if now >= self.next_report:
                self.next_report = float("inf")  # until there is news again
                self.show_report()
            self.panel.sync()
            self.show_status()
        except Exception as err:  # a bug in a view must not end the console and its server
            self.show_error("the console could not show an update", err)

    def show_error(self, what: str, err: BaseException) -> None:
        """Errors the console survives end up here: one line in the log, one notice."""
        self.log_view.note(visible(f"ERROR {what}: {err!r}"))
        self.notify(f"{what}: {err}", severity="error", timeout=10, markup=False)

    def apply_news(self, batch: list[Event]) -> None:
        self.log_view.apply(batch)
        self.sessions.apply(batch)
        self.transfers.apply(batch)
        if self.feed.dropped != self.dropped_seen:
            self.log_view.note(f"... {self.feed.dropped - self.dropped_seen} events dropped (console too slow)")
            self.dropped_seen = self.feed.dropped
        if self.transcript is not None and self.transcript.is_attached:
            self.transcript.add(batch, self.accounts_of(self.transcript.session))

    def show_report(self) -> None:
        """The report's summary in the header, and its table when shown."""
        version = self.server.report_version()
        if version == self.report_version:
            return
        self.report_version = version
        report = self.server.report(wait=False)
        self.summary_text = summary_line(report.summary) if report.accounts else ""
        if self.report_view.display:
            self.report_view.show_report(report.accounts)

    def show_status(self) -> None:
        armed = self.server.board.armed_count()
        chaos = self.server.board.chaos
        chaos = chaos.describe() if chaos is not None and chaos.enabled else ""
        changing = (armed, chaos, self.summary_text)  # the rest is fixed for the run
        if changing == self.status_shown:
            return
        self.status_shown = changing
        # most important first: on a narrow terminal the root path is what gets cut
        shown = f"[b reverse] CHAOS {escape(chaos)} [/]  " if chaos else ""
        status = (
            f"[b{' reverse' if armed else ''}] faults armed {armed} [/]  {shown}[b]{escape(self.server.url)}[/b]"
            f"{' (FTPS)' if self.server.tls else ''}  "
            + (f"report [b]{escape(self.summary_text)}[/b]  " if self.summary_text else "")
            + f"user [b]{escape(self.server.settings.user)}[/b]  "
            + (f"control [b]{escape(self.control_url)}[/b]  " if self.control_url else "")
            + (f"token [b]{escape(self.token)}[/b]  " if self.token else "")
            + f"root [b]{escape(str(self.server.root))}[/b]"
        )
        self.status_text = status
        self.status_bar.update(status)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Errors from the server thread end up here, and only here."""
        if event.worker.name == "ftp-server" and event.state == WorkerState.ERROR:
            error = event.worker.error
            self.show_error("the FTP server stopped", error)

    # --- the inspector: the report, transcripts, the log's filter and search

    def accounts_of(self, session: int) -> list[Account]:
        return [a for a in self.server.report(wait=False).accounts if a.session == session]

    def action_toggle_report(self) -> None:
        shown = not self.report_view.display
        self.report_view.set_class(not shown, "-hidden")
        self.query_one("#bottom").set_class(shown, "-report")
        if shown:
            self.report_version = -1
            self.show_report()
            self.report_view.focus()
            self.report_view.to_row(0)  # the newest fault

    def action_transcript(self) -> None:
        """Enter outside a table: the session selected in Sessions."""
        self.open_transcript(self.sessions.session_at_cursor())

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        table = event.data_table
        if isinstance(table, (SessionTable, TransferTable, ReportTable)):
            self.open_transcript(table.session_at_cursor())

    def open_transcript(self, session: int | None) -> None:
        if not session:
            self.notify("No session selected: pick a row of Sessions, Transfers or the report.")
            return
        events = self.server.history.since(0, session=session)
        self.transcript = TranscriptScreen(session, header_for(session, events), events,
                                           self.accounts_of(session))
        self.push_screen(self.transcript)

    def action_cycle_filter(self) -> None:
        log = self.log_view
        name = FILTERS[(FILTERS.index(log.filter) + 1) % len(FILTERS)]
        session = self.sessions.session_at_cursor() or 0
        if name == "session" and not session:
            name = FILTERS[(FILTERS.index(name) + 1) % len(FILTERS)]  # no session to show
        log.set_filter(name, session)

    def action_search(self) -> None:
        def search(term: str | None) -> None:
            if term is not None and not self.log_view.search(term) and term:
                self.notify(f"Not in the log: {term}", markup=False)

        self.push_screen(TextPrompt("Search the log", self.log_view.highlighter.term,
                                    "Enter searches · n goes to the next hit · empty clears"), search)

    def action_next_hit(self) -> None:
        if self.log_view.highlighter.term and not self.log_view.next_hit():
            self.notify("No more hits.")

    def action_follow(self) -> None:
        self.log_view.follow()
        for table in (self.sessions, self.transfers):
            table.action_follow()

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

    def action_toggle_chaos(self) -> None:
        chaos = self.server.board.chaos
        if chaos is None:
            self.set_chaos(self.server.settings.chaos or DEFAULT_CHAOS)
        else:
            self.change_board(lambda board: board.enable_chaos(not chaos.enabled, source=SOURCE))

    def set_chaos(self, probability: float) -> None:
        self.change_board(lambda board: self.server.set_chaos(probability, source=SOURCE))

    def action_add_rule(self) -> None:
        def added(new: Rule | float | None) -> None:
            if isinstance(new, float):  # chaos=P
                self.set_chaos(new)
                return
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
            if path.exists() and not same_file(path, self.profile):  # someone else's file
                self.push_screen(ConfirmPrompt(f"{path} is not the profile loaded here. Replace its "
                                               "faults with these rules? (Its [server] and comments stay.)"),
                                 lambda yes: write(path) if yes else None)
                return
            write(path)

        def write(path: Path) -> None:
            rules = self.server.board.rules()
            try:
                save_profile(path, rules)
            except ProfileError as err:  # not a profile: left as it was
                self.notify(str(err), severity="error", timeout=10, markup=False)
                return
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
        self.log_view.clear_all()

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for key in KEYS:
            if key.palette:
                yield SystemCommand(f"{key.help} ({key.display})", f"key {key.display}",
                                    partial(self.run_action, key.action))
