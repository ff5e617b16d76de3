"""The console's keys, once: the footer, the help screen, the command palette and
``ftpfault --help`` all read this table. Plain data (no Textual), so the command line can
show the keys without loading the console."""

from __future__ import annotations

from dataclasses import dataclass

from ..engine.points import PICKER_CODES


@dataclass(frozen=True)
class Key:
    key: str  # Textual's key name ("question_mark", "delete")
    action: str  # the App action it runs
    label: str  # the footer's word
    help: str  # the help screen's and the palette's sentence
    id: str  # a stable name (tests, keymaps)
    show: bool = True  # in the footer
    shown_as: str = ""  # how the key reads, when not as its name ("?", "del")
    group: str = ""  # keys shown as one footer entry (1-5)
    palette: bool = True  # offered in the command palette

    @property
    def display(self) -> str:
        return self.shown_as or self.key


# The points with a key of their own: the key arms or disarms that point's first rule.
QUICK_KEYS = {"upload": "u", "download": "d"}

KEYS: tuple[Key, ...] = (
    *(Key(key, f"toggle('{point}')", point.capitalize(),
          f"Arm/disarm the {point} fault and focus its row", f"toggle-{point}")
      for point, key in QUICK_KEYS.items()),
    *(Key(str(n), f"code({code})", str(code), f"Set the focused row's code to {code}",
          f"code-{code}", group="Code")
      for n, code in enumerate(PICKER_CODES, start=1)),
    Key("a", "add_rule", "Add", "Add a fault rule (any point, code, trigger and action)", "add-rule"),
    Key("e", "edit_rule", "Edit", "Edit the focused rule", "edit-rule", show=False),
    Key("delete", "delete_rule", "Delete", "Delete the focused rule", "delete-rule", show=False,
        shown_as="del"),
    Key("space", "toggle_row", "Toggle", "Arm/disarm the focused rule", "toggle-rule", show=False,
        palette=False),
    Key("s", "save_profile", "Save", "Save the rules to a profile (TOML)", "save-profile", show=False),
    Key("l", "load_profile", "Load", "Load the rules of a profile (TOML), replacing the current ones",
        "load-profile", show=False),
    Key("x", "disarm_all", "Disarm", "Disarm every fault and chaos", "disarm-all"),
    Key("k", "toggle_chaos", "Chaos", "Chaos on or off: random faults at every fault point (its "
        "probability: chaos=P in the rule form, 10% by default)", "toggle-chaos"),
    Key("r", "toggle_report", "Report", "Show or hide the client report: what each client did after "
        "each fault", "toggle-report"),
    Key("enter", "transcript", "Transcript", "Open the transcript of the selected session (Enter on a "
        "row of Sessions, Transfers or the report)", "transcript", show=False, shown_as="enter"),
    Key("f", "cycle_filter", "Filter", "Filter the log: all, faults only, the selected session, errors",
        "log-filter"),
    Key("slash", "search", "Search", "Search the log (n: the next hit)", "log-search", shown_as="/"),
    Key("n", "next_hit", "Next", "Go to the next hit of the log's search", "log-next", show=False),
    Key("end", "follow", "Follow", "Follow new lines and rows again (after scrolling up)", "follow",
        show=False),
    Key("c", "clear_log", "Clear", "Clear the log", "clear-log", show=False),
    Key("question_mark", "help", "Help", "Show every key and fault code", "help", shown_as="?"),
    Key("q", "quit", "Quit", "Stop the server and quit (also Ctrl+Q)", "quit", palette=False),
)


def key_help() -> list[tuple[str, str]]:
    """(key, what it does) for every key, a group of keys as one row: for help texts."""
    rows, grouped = [], set()
    for key in KEYS:
        if key.group:
            if key.group in grouped:
                continue
            grouped.add(key.group)
            members = [k for k in KEYS if k.group == key.group]
            rows.append((f"{members[0].display}-{members[-1].display}",
                         f"{key.group} of the focused fault: " + " ".join(
                             f"{k.display}={k.label}" for k in members)))
        else:
            rows.append((key.display, key.help))
    return rows
