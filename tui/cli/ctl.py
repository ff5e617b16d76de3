"""``ftpfault ctl``: a client of the control API for shell scripts and CI steps."""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import time
import urllib.error
import urllib.request
from urllib.parse import quote

from ..engine.logline import visible
from ..engine.report import format_report, report_from_json
from ..engine.settings import DEFAULT_CONTROL_PORT, SETTINGS
from .parsing import OneLineErrorParser

PROG = "ftpfault ctl"
ENV = "FTPFAULT_CONTROL"
TOKEN_ENV = "FTPFAULT_TOKEN"
DEFAULT_URL = f"http://127.0.0.1:{DEFAULT_CONTROL_PORT}"
FOLLOW_INTERVAL = 0.5


class CtlError(Exception):
    pass


def api_url(text: str) -> str:
    """``--control`` as the server takes it (PORT, HOST:PORT) or as a URL."""
    text = text.strip()
    if "://" in text:
        return text.rstrip("/")
    if text.isdigit():
        return f"http://127.0.0.1:{text}"
    return f"http://{text}"


class Client:
    def __init__(self, url: str, token: str | None = None, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def call(self, method: str, path: str, body: dict | None = None):
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as err:
            try:
                message = json.loads(err.read()).get("error") or err.reason
            except (ValueError, AttributeError):
                message = err.reason
            raise CtlError(f"{message} (HTTP {err.code})") from None
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise CtlError(f"no control API at {self.url} ({reason}); start ftpfault with --control, "
                           f"or set ${ENV} / --control") from None
        except http.client.HTTPException as err:  # something else listens there, e.g. the FTP port
            raise CtlError(f"{self.url} is not an ftpfault control API (it does not speak HTTP: "
                           f"{type(err).__name__}); give the --control port") from None
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            raise CtlError(f"{self.url} is not an ftpfault control API (its answer is not JSON)") from None


def _rule_line(rule: dict) -> str:
    state = "armed" if rule["enabled"] else ("spent" if rule["exhausted"] else "off")
    left = f" left {rule['remaining']}" if rule["remaining"] is not None else ""
    if rule.get("expires_in") and rule["enabled"]:
        left += f" {rule['expires_in']:.0f} s to go"
    return f"{rule['id']:<5} {state:<6} fired {rule['fired']}{left}  {rule['spec']}"


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(
        prog=PROG,
        description="Drive a running ftpfault through its control API (ftpfault --control PORT).",
        epilog=f"The API is --control (a URL, HOST:PORT or PORT), else ${ENV}, else {DEFAULT_URL}; "
               f"its token is --token, else ${TOKEN_ENV}. Exit status: 0 on success, 1 when the "
               "API refuses or cannot be reached, 2 for a usage error; each with a one-line message.",
    )
    parser.add_argument("--control", metavar="URL|HOST:PORT|PORT",
                        help=f"the API (default: ${ENV} or {DEFAULT_URL})")
    parser.add_argument("--token", help=f"the API's bearer token (default: ${TOKEN_ENV})")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    commands.add_parser("list", help="the rules, with their counters")
    arm = commands.add_parser("arm", help="add a rule, e.g. arm upload=451,times=1")
    arm.add_argument("spec", help="a rule in the fault grammar")
    for name, text in (("enable", "arm a rule again (by id)"), ("disable", "turn a rule off (by id), keeping it")):
        commands.add_parser(name, help=text).add_argument("rule", metavar="ID")
    disarm = commands.add_parser("disarm", help="turn rules off, keeping them (as the console's x): one id, or all")
    disarm.add_argument("rule", metavar="ID|all", nargs="?", default="all")
    remove = commands.add_parser("remove", help="remove a rule by id, or all of them")
    remove.add_argument("rule", metavar="ID|all")
    events = commands.add_parser("events", help="the journal as JSON lines")
    events.add_argument("--since", type=int, default=0, metavar="SEQ", help="only events after SEQ")
    events.add_argument("--kind", help="only events of this kind (e.g. fault)")
    events.add_argument("--follow", "-f", action="store_true", help="keep printing new events")
    commands.add_parser("sessions", help="who is connected and what they are doing")
    report = commands.add_parser("report", help="what the clients did after each fault")
    report.add_argument("--format", choices=("text", "json", "md"), default="text")
    chaos = commands.add_parser("chaos", help="chaos as it is; chaos P turns it on (e.g. 0.1), "
                                "chaos off turns it off")
    chaos.add_argument("probability", nargs="?", metavar="P|off|on")
    chaos.add_argument("--points", help="the points it acts at, e.g. upload,download")
    chaos.add_argument("--faults", help="the kinds of fault it draws, e.g. code,cut")
    commands.add_parser("reset", help="no rules, no counters, no chaos")
    return parser


def _chaos_line(chaos: dict) -> str:
    if "probability" not in chaos:
        return "chaos " + ("on: a replay" if chaos.get("enabled") else "off")
    state = "on" if chaos["enabled"] else "off"
    return (f"chaos {state} {chaos['probability']:.0%} seed {chaos['seed']} at "
            f"{','.join(chaos['points'])}: {','.join(chaos['faults'])}")


def run(args: argparse.Namespace, out) -> int:
    url = api_url(args.control or os.environ.get(ENV) or DEFAULT_URL)
    client = Client(url, args.token or os.environ.get(TOKEN_ENV))
    command = args.command
    if command == "list":
        for rule in client.call("GET", "/rules"):
            print(_rule_line(rule), file=out)
    elif command == "arm":
        print(_rule_line(client.call("POST", "/rules", {"spec": args.spec})), file=out)
    elif command in ("enable", "disable"):
        rule = client.call("PATCH", f"/rules/{quote(args.rule, safe='')}", {"enabled": command == "enable"})
        print(_rule_line(rule), file=out)
    elif command == "disarm":
        if args.rule == "all":
            client.call("POST", "/disarm")
        else:
            print(_rule_line(client.call("PATCH", f"/rules/{quote(args.rule, safe='')}",
                                         {"enabled": False})), file=out)
    elif command == "remove":
        path = "/rules" if args.rule == "all" else f"/rules/{quote(args.rule, safe='')}"
        client.call("DELETE", path)
    elif command == "reset":
        client.call("POST", "/reset")
    elif command == "sessions":
        for session in client.call("GET", "/sessions"):
            print(visible(f"#{session['id']:<4} {session['client']:<21} {session['user'] or '-':<12} "
                          f"{session['state']:<12} {session['command']}"), file=out)
    elif command == "chaos":
        wanted = args.probability
        if wanted in ("on", "off"):
            state = client.call("PUT", "/chaos", {"enabled": wanted == "on"})
        elif wanted is not None:
            body: dict = {"probability": _probability(wanted)}
            body |= {"points": args.points} if args.points else {}
            body |= {"faults": args.faults} if args.faults else {}
            state = client.call("PUT", "/chaos", body)
        else:
            state = client.call("GET", "/chaos")
        print(_chaos_line(state), file=out)
    elif command == "report":
        print(format_report(report_from_json(client.call("GET", "/report")), args.format), end="", file=out)
    elif command == "events":
        since = args.since
        query = f"&kind={quote(args.kind)}" if args.kind else ""
        while True:
            for event in client.call("GET", f"/events?since={since}{query}"):
                print(json.dumps(event), file=out, flush=True)
                since = max(since, event["seq"])
            if not args.follow:
                break
            time.sleep(FOLLOW_INTERVAL)  # polling the API: the pace of --follow
    return 0


def _probability(text: str) -> float:
    """Checked as --chaos checks it, so a wrong one never reaches the API."""
    try:
        return SETTINGS["chaos"].kind.parse(text)
    except ValueError as err:
        raise CtlError(f"chaos {text[:20]}: {err} (or on, or off)") from None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args, sys.stdout)
    except CtlError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:
        return 0
