"""Automation: TOML profiles (files, command line, console keys), the Python testing API,
the pytest plugin (run for real with pytester), and explicit FTPS with the same faults.

Every client here is real: ftplib (FTP and FTP_TLS with PROT P), curl, a headless
``ftpfault`` process, the console driven by its keys (Textual Pilot).
"""

from __future__ import annotations

import asyncio
import ftplib
import io
import select
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import DEADLINE, PASSWORD, USER, payload, run_ftpfault, sha256, until

from tui.cli import serve as cli
from tui.engine.board import FaultBoard
from tui.engine.points import STANDARD_MESSAGES
from tui.engine.rules import Rule, RuleError, parse_rule
from tui.engine.profiles import ProfileError, load_profile, rule_from_fields, save_profile
from tui.engine.server import ServerError
from tui.testing import FaultServer
from tui.engine.ftp.tls import make_self_signed

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parent.parent
PROFILES = sorted((REPO / "profiles").glob("*.toml"))
CURL = shutil.which("curl")


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------


run = run_ftpfault


def insecure_context() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def login(port: int, tls: bool = False, user: str = USER, password: str = PASSWORD,
          prot_p: bool = True) -> ftplib.FTP:
    """A logged-in ftplib session; over FTPS: AUTH TLS, then PBSZ 0 + PROT P."""
    if tls:
        ftp = ftplib.FTP_TLS(context=insecure_context(), timeout=DEADLINE)
    else:
        ftp = ftplib.FTP(timeout=DEADLINE)
    ftp.connect("127.0.0.1", port)
    ftp.login(user, password)
    if tls and prot_p:
        ftp.prot_p()
    return ftp


def noop_ok(ftp: ftplib.FTP) -> None:
    """The sync guard: the next command gets its own 200, no stale reply is waiting."""
    reply = ftp.voidcmd("NOOP")
    assert reply.startswith("200"), reply


def final(call: Callable[[], str]) -> str:
    """The final reply of a command, fault replies included."""
    try:
        return call()
    except (ftplib.error_temp, ftplib.error_perm) as err:
        return str(err)


def store(ftp: ftplib.FTP, name: str, data: bytes) -> str:
    """Upload; the final reply. A cut that reaches us while we still send leaves the
    reply waiting on the control connection: read it."""
    try:
        return ftp.storbinary(f"STOR {name}", io.BytesIO(data))
    except (ftplib.error_temp, ftplib.error_perm) as err:
        return str(err)
    except OSError:
        return final(ftp.getresp)


def retrieve(ftp: ftplib.FTP, name: str) -> tuple[str, bytes]:
    got = bytearray()
    return final(lambda: ftp.retrbinary(f"RETR {name}", got.extend)), bytes(got)


def upload_once(port: int, name: str, data: bytes = b"x" * 1000, **kw) -> str:
    """One upload on a fresh session; after a fault the session must still answer NOOP."""
    ftp = login(port, **kw)
    try:
        reply = store(ftp, name, data)
        noop_ok(ftp)
        return reply
    finally:
        ftp.close()


def code_of(reply: str) -> int:
    return int(reply[:3])


def write_profile(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------
# 1. profiles: both forms, saving, every error names the file, the entry and the problem
# ---------------------------------------------------------------------------------------------


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
    path = save_profile(tmp_path / "sub" / "saved.toml", board.rules(), server={"seed": 7})
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# FTP Fault Console profile: ftpfault --profile saved.toml\n")
    assert tomllib.loads(text)["server"] == {"seed": 7}
    loaded = load_profile(path)
    assert loaded.server == {"seed": 7}
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


SERVER_ERRORS = [
    ('port = "abc"', "port", "must be a port number"),
    ('port = "2121"', "port", "must be a port number"),  # one type per key: no strings for numbers
    ("password = [1, 2]", "password", "must be a string"),
    ("root = 5", "root", "must be a string"),
    ('perm = "elrx"', "perm", "permissions are letters of elradfmwMT"),
    ("port = 70000", "port", "70000"),
    ('seed = "7"', "seed", "must be a whole number"),
    ('anonymous = "yes"', "anonymous", "must be true or false"),
    ("tls = 1", "tls", "must be true or false"),
    ('passive_ports = "9-2"', "passive_ports", "'9-2' is not a port range"),
    ('masquerade = "not-an-ip"', "masquerade", "not an IPv4 address"),
]


@pytest.mark.parametrize("line, key, problem", SERVER_ERRORS, ids=[k for _, k, _ in SERVER_ERRORS])
def test_bad_server_settings_are_one_line_naming_file_setting_and_problem(tmp_path, capsys, line,
                                                                          key, problem):
    path = write_profile(tmp_path / "srv.toml", f"[server]\n{line}\n")
    assert cli.main(["--headless", "--profile", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"ftpfault: error: {path}: [server]: {key}: ") and problem in err, err
    assert err.count("\n") == 1


def test_settings_the_command_line_overrides_are_still_checked(tmp_path, capsys):
    path = write_profile(tmp_path / "srv.toml", '[server]\nport = "x"\n')
    assert cli.main(["--headless", "--port", "0", "--profile", str(path)]) == 2
    assert "[server]: port: must be a port number" in capsys.readouterr().err


def test_a_bad_profile_on_the_command_line_is_one_line_exit_2(tmp_path):
    path = write_profile(tmp_path / "bad.toml",
                         '[[fault]]\nspec = "upload=451"\n\n[[fault]]\nspec = "download=426,tims=1"\n')
    result = run("--headless", "--port", "0", "--root", str(tmp_path / "root"), "--profile", str(path))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == f"ftpfault: error: {path}: fault #2: unknown option 'tims'\n"
    missing = run("--headless", "--port", "0", "--profile", str(tmp_path / "none.toml"))
    assert (missing.returncode, missing.stderr) == (
        2, f"ftpfault: error: {tmp_path / 'none.toml'}: no such file\n")


# ---------------------------------------------------------------------------------------------
# 2. [server] in a profile, merged under the command line
# ---------------------------------------------------------------------------------------------


def resolve(*argv: str) -> cli.Options:
    return cli.resolve(cli.build_parser().parse_args(list(argv)))


def test_server_settings_fill_what_the_command_line_left_out(tmp_path):
    path = write_profile(tmp_path / "srv.toml", f'''
[server]
host = "127.0.0.1"
port = 2222
root = "{tmp_path / 'from-profile'}"
user = "alice"
password = "pw"
passive_ports = [60000, 60100]
masquerade = "10.1.2.3"
anonymous = true
seed = 7
tls = true

[[fault]]
spec = "upload=451"
''')
    options = resolve("--profile", str(path))
    s = options.settings
    assert (s.port, s.root, s.user, s.password, s.seed, s.anonymous, s.tls, s.masquerade) == (
        2222, tmp_path / "from-profile", "alice", "pw", 7, True, True, "10.1.2.3")
    assert s.passive_ports == range(60000, 60101)
    assert [r.spec for r in options.rules] == ["upload=451"]

    options = resolve("--profile", str(path), "--port", "0", "--user", "bob", "--seed", "8",
                      "--root", str(tmp_path / "cli"), "--masquerade", "10.9.9.9",
                      "--passive-ports", "61000-61001", "--fault", "download=426")
    s = options.settings
    assert (s.port, s.root, s.user, s.password, s.seed, s.masquerade) == (
        0, tmp_path / "cli", "bob", "pw", 8, "10.9.9.9")
    assert s.passive_ports == range(61000, 61002)
    # the profile's rules first, then the command line's
    assert [r.spec for r in options.rules] == ["upload=451", "download=426"]


def test_a_certificate_in_a_profile_means_ftps(tmp_path):
    cert, key = make_self_signed(tmp_path)
    path = write_profile(tmp_path / "tls.toml", f'[server]\ncert = "{cert}"\nkey = "{key}"\n')
    s = resolve("--profile", str(path)).settings
    assert (s.tls, s.cert, s.key) == (True, cert, key)


def chance_pattern(seed: int, spec: str, n: int) -> list[bool]:
    board = FaultBoard(seed=seed)
    rule = board.add(spec)
    return [board.fire(rule) for _ in range(n)]


def test_headless_profile_settings_with_the_command_line_winning(tmp_path, headless):
    """Port, password and seed given on the command line win; user, root and the rules
    come from the profile."""
    spec, n = "upload=452,chance=0.5", 12
    from_profile, from_cli = chance_pattern(7, spec, n), chance_pattern(8, spec, n)
    assert from_profile != from_cli  # the seeds tell apart
    with socket.socket() as busy:  # the profile's port is taken: only --port 0 can start
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        root = tmp_path / "profile-root"
        path = write_profile(tmp_path / "srv.toml", f'''
[server]
port = {busy.getsockname()[1]}
user = "alice"
password = "from-profile"
root = "{root}"
seed = 7

[[fault]]
spec = "{spec}"
''')
        server = headless("--profile", str(path), "--port", "0", "--password", "from-cli",
                          "--seed", "8")
    assert f"root={root} user=alice faults={spec}" in server.banner
    codes = [code_of(upload_once(server.port, f"f{i}.bin", user="alice", password="from-cli"))
             for i in range(n)]
    assert codes == [452 if fired else 226 for fired in from_cli]
    assert sorted(p.name for p in root.iterdir()) == sorted(f"f{i}.bin" for i in range(n))
    assert server.stop() == 0


# ---------------------------------------------------------------------------------------------
# 3. the example profiles: they load, and they do what their comments say
# ---------------------------------------------------------------------------------------------


def test_the_repository_ships_example_profiles():
    assert {p.name for p in PROFILES} >= {
        "flaky-uploads.toml", "login-trouble.toml", "slow-and-cut-downloads.toml"}


@pytest.mark.parametrize("path", PROFILES, ids=[p.stem for p in PROFILES])
def test_each_example_profile_loads_and_starts(path, tmp_path, headless):
    text = path.read_text(encoding="utf-8")
    # the comment shows how to run it, from the repository
    assert f"ftpfault --profile profiles/{path.name}" in text
    profile = load_profile(path)
    assert profile.rules and all(r.enabled for r in profile.rules)
    server = headless("--profile", str(path), "--port", "0", "--root", str(tmp_path))
    assert f"faults={', '.join(r.spec for r in profile.rules)}" in server.banner
    assert server.stop() == 0


def test_the_readme_uses_the_example_profiles():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for path in PROFILES:
        assert f"--profile profiles/{path.name}" in readme


def example(name: str) -> str:
    return str(REPO / "profiles" / name)


def test_flaky_uploads_profile(tmp_path, headless):
    """The first upload fails once (a retry succeeds), every 5th upload the rule is asked
    about is told the disk is full, .tmp uploads are cut after 64 KiB and removed."""
    server = headless("--profile", example("flaky-uploads.toml"), "--port", "0",
                      "--root", str(tmp_path))
    data = payload(100_000, seed=3)
    first = upload_once(server.port, "report.pdf", data)
    assert first == f"451 {STANDARD_MESSAGES[451]}"
    assert upload_once(server.port, "report.pdf", data).startswith("226")  # the retry
    assert (tmp_path / "report.pdf").read_bytes() == data

    codes = [code_of(upload_once(server.port, f"u{i}.bin")) for i in range(4)]
    cut = upload_once(server.port, "part.tmp", data)
    codes += [code_of(upload_once(server.port, f"u{i}.bin")) for i in range(4, 9)]
    # the retry above was the every=5 rule's first match (the times=1 rule had fired)
    assert codes == [226, 226, 226, 452, 226, 226, 226, 226, 452]
    assert cut == f"426 {STANDARD_MESSAGES[426]}"
    assert not (tmp_path / "part.tmp").exists()
    # (the log line's exact layout is test_cli's business: only what fired, where, by which rule)
    server.wait_line(r"FAULT upload\b.* -> 452 Insufficient storage space \(STOR /u3\.bin, rule r2\)")
    server.wait_line(r"FAULT upload\b.*cut after 65536 B.* -> 426 .*\(STOR /part\.tmp, rule r3\)"
                     r"|FAULT upload\b.* -> 426 .*\(STOR /part\.tmp, rule r3\).*cut after 65536 B")
    server.wait_line(r"transfer upload /part\.tmp 65536 B in .* -> 426")
    assert server.stop() == 0


def test_login_trouble_profile(tmp_path, headless):
    """The first login is refused as busy (421, connection closed); the next one is
    answered after 5 s; then logins work. PASV fails once with 425."""
    server = headless("--profile", example("login-trouble.toml"), "--port", "0",
                      "--root", str(tmp_path))
    ftp = ftplib.FTP(timeout=DEADLINE)
    ftp.connect("127.0.0.1", server.port)
    with pytest.raises(ftplib.error_temp, match=r"^421 "):
        ftp.login(USER, PASSWORD)
    with pytest.raises((EOFError, OSError)):  # closed by the server
        ftp.voidcmd("NOOP")
    ftp.close()

    began = time.monotonic()
    slow = login(server.port)
    assert time.monotonic() - began >= 4.9
    slow.quit()

    began = time.monotonic()
    ftp = login(server.port)
    assert time.monotonic() - began < 2
    with pytest.raises(ftplib.error_temp, match=r"^425 "):
        ftp.nlst()
    noop_ok(ftp)
    assert ftp.nlst() == []  # once only
    ftp.quit()
    assert server.stop() == 0


def timed(fn: Callable[[], object]) -> tuple[object, float]:
    began = time.monotonic()
    result = fn()
    return result, time.monotonic() - began


def in_parallel(*fns: Callable[[], object]) -> list[object]:
    """Run each function on a thread of its own; their results, or the first error."""
    results: list[object] = [None] * len(fns)
    errors: list[BaseException] = []

    def call(i: int) -> None:
        try:
            results[i] = fns[i]()
        except BaseException as err:  # noqa: BLE001 - raised again below
            errors.append(err)

    threads = [threading.Thread(target=call, args=(i,), daemon=True) for i in range(len(fns))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(3 * DEADLINE)
    assert not any(t.is_alive() for t in threads), "a client is still running"
    if errors:
        raise errors[0]
    return results


def test_slow_and_cut_downloads_profile(tmp_path, headless):
    """Every download crawls at 256 KiB/s and .iso downloads are cut after 1 MB too (426);
    every 10th listing is 3 s late. The three run at once, each on its own session."""
    iso, other = payload(1_500_000, seed=1), payload(300_000, seed=2)
    (tmp_path / "disk.iso").write_bytes(iso)
    (tmp_path / "notes.bin").write_bytes(other)
    server = headless("--profile", example("slow-and-cut-downloads.toml"), "--port", "0",
                      "--root", str(tmp_path))

    def cut_download():
        ftp = login(server.port)
        reply, got = retrieve(ftp, "disk.iso")
        noop_ok(ftp)
        ftp.quit()
        return reply, got

    def slow_download():
        ftp = login(server.port)
        result = timed(lambda: retrieve(ftp, "notes.bin"))
        ftp.quit()
        return result

    def listings():
        ftp = login(server.port)
        times = [timed(ftp.nlst)[1] for _ in range(10)]
        ftp.quit()
        return times

    (reply, got), ((slow_reply, slow_got), elapsed), times = in_parallel(
        cut_download, slow_download, listings)
    assert reply == f"426 {STANDARD_MESSAGES[426]}"
    assert sha256(got) == sha256(iso[:1_000_000])
    assert slow_reply.startswith("226") and sha256(slow_got) == sha256(other)
    assert elapsed >= 0.9 * (len(other) - 32768) / 262144  # the first 32 KiB chunk is free
    assert max(times[:9]) < 1.5 and times[9] >= 2.9, times
    assert server.stop() == 0


# ---------------------------------------------------------------------------------------------
# 4. the console: s saves the rules, l loads a profile (real keys, Textual Pilot)
# ---------------------------------------------------------------------------------------------

SIZE = (140, 40)


async def type_line(pilot, text: str) -> None:
    await pilot.press("end", "ctrl+u", *text)


def recording_notes(app) -> list[tuple[str, str]]:
    notes: list[tuple[str, str]] = []
    notify = app.notify

    def record(message, *args, **kwargs):
        notes.append((str(message), kwargs.get("severity", "information")))
        return notify(message, *args, **kwargs)

    app.notify = record
    return notes


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


# ---------------------------------------------------------------------------------------------
# 5. the Python testing API
# ---------------------------------------------------------------------------------------------


def test_fault_server_api(tmp_path):
    root = tmp_path / "served"
    with FaultServer(root=str(root), port=0, faults=["upload=451,times=1"]) as srv:
        assert isinstance(srv.root, Path) and srv.root == root.resolve() and root.is_dir()
        assert srv.host == "127.0.0.1" and srv.port > 0
        assert srv.url == f"ftp://127.0.0.1:{srv.port}/"
        assert (srv.user, srv.password) == ("testuser", "testpass")

        assert code_of(upload_once(srv.port, "a.bin")) == 451
        assert code_of(upload_once(srv.port, "a.bin")) == 226
        (fault,) = srv.fired("upload")
        assert (fault.point, fault.code, fault.command, fault.path, fault.rule) == (
            "upload", 451, "STOR", "/a.bin", "r1")
        assert srv.fired() == srv.events("fault") == [fault]
        assert srv.fired("download") == []
        assert [e.code for e in srv.events("transfer")] == [451, 226]
        kinds = {e.kind for e in srv.events()}
        assert {"session.open", "login", "command", "reply", "transfer", "fault"} <= kinds

        rule = srv.arm("download=450:Not now")
        assert isinstance(rule, Rule) and rule.spec == "download=450:Not now" and rule.id
        (srv.root / "f.bin").write_bytes(b"data")
        ftp = login(srv.port)
        assert retrieve(ftp, "f.bin") == ("450 Not now", b"data")
        srv.disarm(rule)
        assert retrieve(ftp, "f.bin")[0].startswith("226")
        srv.arm(Rule("cmd:PWD", code=550))
        srv.arm("cmd:SYST=502")
        assert final(ftp.pwd).startswith("550")
        srv.disarm()  # every rule
        assert srv.board.rules() == []
        assert ftp.pwd() == "/" and ftp.sendcmd("SYST").startswith("215")
        ftp.quit()
        with pytest.raises(RuleError, match="tims"):
            srv.arm("upload=451,tims=1")
        port = srv.port
    with pytest.raises(ConnectionRefusedError):  # stopped on leaving the block
        socket.create_connection(("127.0.0.1", port), timeout=DEADLINE).close()
    assert root.is_dir() and (root / "a.bin").exists()  # a given root stays


def test_events_hold_everything_up_to_the_reply_a_client_just_got():
    """No waiting in tests: once a client has its reply, the events of that exchange (the
    transfer, the reply itself) are in events(), also right after the call returns."""
    with FaultServer(faults=["upload=451,every=2"]) as srv:
        ftp = login(srv.port)
        for n in range(1, 21):
            reply = store(ftp, f"f{n}.bin", b"x" * n)
            transfers = srv.events("transfer")
            assert [(t.path, t.code) for t in transfers[n - 1:]] == [(f"/f{n}.bin", code_of(reply))]
            assert srv.events("reply")[-1].code == code_of(reply)
            assert len(srv.fired()) == n // 2
        ftp.quit()
    assert srv.events("transfer")[-1].path == "/f20.bin"  # and after the server stopped


def test_fault_server_own_root_is_removed_and_servers_run_side_by_side():
    with FaultServer() as one, FaultServer(user="u", password="p", faults=[Rule("upload", 452)]) as two:
        assert one.root != two.root and one.port != two.port
        assert one.root.is_dir() and not any(one.root.iterdir())
        assert code_of(upload_once(one.port, "a.bin")) == 226
        assert code_of(upload_once(two.port, "a.bin", user="u", password="p")) == 452
        assert one.fired() == [] and len(two.fired("upload")) == 1
        roots = one.root, two.root
    assert not any(r.exists() for r in roots)


def test_fault_server_that_cannot_start_leaves_nothing_behind(tmp_path, monkeypatch):
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))  # where its own root would be made
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(ServerError, match="already in use"):
            FaultServer(port=busy.getsockname()[1])
    with pytest.raises(RuleError):
        FaultServer(faults=["upload=999"])
    assert list(temp.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# 6. the pytest plugin, auto-loaded through its pytest11 entry point, run for real
# ---------------------------------------------------------------------------------------------

EXAMPLE_TESTS = '''
import ftplib
import io
import socket

import pytest

PORTS = []


def connect(server, tls=False):
    ftp = (ftplib.FTP_TLS if tls else ftplib.FTP)(timeout=10)
    ftp.connect(server.host, server.port)
    ftp.login(server.user, server.password)
    if tls:
        ftp.prot_p()
    return ftp


def upload_with_retry(server, name, data, tries=3):
    """A client under test: retries an upload that got a 4xx."""
    for attempt in range(1, tries + 1):
        ftp = connect(server)
        try:
            ftp.storbinary("STOR " + name, io.BytesIO(data))
            return attempt
        except ftplib.error_temp:
            continue
        finally:
            ftp.close()
    raise AssertionError("gave up")


def test_retry(ftp_fault_server):
    rule = ftp_fault_server.arm("upload=451,times=1")
    assert upload_with_retry(ftp_fault_server, "report.pdf", b"data") == 2
    (fired,) = ftp_fault_server.fired("upload")
    assert (fired.code, fired.path, fired.rule) == (451, "/report.pdf", rule.id)
    assert [e.code for e in ftp_fault_server.events("transfer")] == [451, 226]
    assert (ftp_fault_server.root / "report.pdf").read_bytes() == b"data"


def test_a_fresh_root_in_tmp_path_and_a_free_port(ftp_fault_server, tmp_path):
    PORTS.append(ftp_fault_server.port)
    assert ftp_fault_server.root.parent == tmp_path.resolve()
    assert list(ftp_fault_server.root.iterdir()) == []
    assert ftp_fault_server.port > 0
    assert ftp_fault_server.url == "ftp://127.0.0.1:%d/" % ftp_fault_server.port
    assert ftp_fault_server.fired() == [] and ftp_fault_server.board.rules() == []


def test_the_server_of_the_last_test_was_stopped():
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", PORTS[0]), timeout=5)


def test_disarm(ftp_fault_server):
    (ftp_fault_server.root / "f.txt").write_bytes(b"hello")
    rule = ftp_fault_server.arm("download=450")
    ftp = connect(ftp_fault_server)
    with pytest.raises(ftplib.error_temp, match="^450"):
        ftp.retrbinary("RETR f.txt", lambda b: None)
    ftp_fault_server.disarm(rule)
    got = []
    ftp.retrbinary("RETR f.txt", got.append)
    assert b"".join(got) == b"hello"
    ftp.quit()
    assert len(ftp_fault_server.fired("download")) == 1


def test_tls(ftp_fault_server_tls):
    (ftp_fault_server_tls.root / "f.txt").write_bytes(b"secret")
    ftp_fault_server_tls.arm("download=451,times=1")
    ftp = connect(ftp_fault_server_tls, tls=True)
    with pytest.raises(ftplib.error_temp, match="^451"):
        ftp.retrbinary("RETR f.txt", lambda b: None)
    assert ftp.voidcmd("NOOP").startswith("200")
    got = []
    ftp.retrbinary("RETR f.txt", got.append)
    assert b"".join(got) == b"secret"
    ftp.quit()
    assert [e.point for e in ftp_fault_server_tls.fired()] == ["download"]
    commands = [(e.command, e.arg) for e in ftp_fault_server_tls.events("command")]
    assert ("AUTH", "TLS") in commands and ("PROT", "P") in commands


def test_the_plugin_came_from_the_entry_point(request):
    plugin = request.config.pluginmanager.get_plugin("ftpfault")
    assert plugin is not None and plugin.__name__ == "tui.pytest_plugin"
'''


def test_pytest_plugin_fixtures_in_a_real_pytest_run(pytester):
    pytester.makepyfile(test_client=EXAMPLE_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=60)
    result.assert_outcomes(passed=6)

    # without the plugin the fixtures are gone: the entry point is what provides them
    result = pytester.runpytest_subprocess("-p", "no:ftpfault", "-p", "no:cacheprovider",
                                           "-k", "retry", timeout=60)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'ftp_fault_server' not found*"])


def test_the_plugin_fixtures_are_here_too(ftp_fault_server, ftp_fault_server_tls, tmp_path):
    assert ftp_fault_server.root == (tmp_path / "ftp").resolve()
    assert ftp_fault_server_tls.root == (tmp_path / "ftps").resolve()
    assert not ftp_fault_server.tls and ftp_fault_server_tls.tls
    ftp_fault_server_tls.arm("upload=452,times=1")
    assert code_of(upload_once(ftp_fault_server_tls.port, "a.bin", tls=True)) == 452
    assert code_of(upload_once(ftp_fault_server_tls.port, "a.bin", tls=True)) == 226
    assert code_of(upload_once(ftp_fault_server.port, "a.bin")) == 226
    assert len(ftp_fault_server_tls.fired("upload")) == 1 and ftp_fault_server.fired() == []


# ---------------------------------------------------------------------------------------------
# 7. FTPS: the same faults over TLS (ftplib FTP_TLS + PROT P), curl, --tls-required, certs
# ---------------------------------------------------------------------------------------------

DATA = payload(300_000, seed=11)
SMALL = payload(131_072, seed=12)


def closed_without_reply(fn: Callable[[], object]) -> str:
    """How the control connection ended when the server closed it instead of replying.
    ftplib over TLS reads a TCP reset as end of file (Python's ssl treats an EOF without
    close_notify as ragged): see test_reset_over_tls_sends_no_close_notify for the wire."""
    try:
        fn()
    except ConnectionResetError:
        return "closed"
    except EOFError:
        return "closed"
    return "answered"


# Each case: the rule, and what the client does; it returns what the client saw. The same
# observations are expected over FTP and over FTPS.


def c_upload_code(ftp, root):
    reply = store(ftp, "up.bin", DATA)
    return reply, sha256((root / "up.bin").read_bytes()) == sha256(DATA)


def c_download_code(ftp, root):
    reply, got = retrieve(ftp, "big.bin")
    return reply, sha256(got) == sha256(DATA)


def c_list_code(ftp, root):
    return final(lambda: ftp.retrlines("NLST", lambda line: None))


def c_download_cut(ftp, root):
    reply, got = retrieve(ftp, "big.bin")
    return reply, len(got), sha256(got) == sha256(DATA[:100_000])


def c_upload_cut(ftp, root):
    reply = store(ftp, "up.bin", DATA)
    return reply, sha256((root / "up.bin").read_bytes()) == sha256(DATA[:100_000])


def c_upload_start(ftp, root):
    return store(ftp, "up.bin", DATA), (root / "up.bin").exists()


def c_download_start(ftp, root):
    return retrieve(ftp, "big.bin")


def c_list_start(ftp, root):
    return final(lambda: ftp.retrlines("LIST", lambda line: None))


def c_cmd_mkd(ftp, root):
    return final(lambda: ftp.mkd("newdir")), (root / "newdir").exists()


def c_cmd_size(ftp, root):
    return final(lambda: ftp.sendcmd("SIZE big.bin"))


def c_data(ftp, root):
    return final(lambda: ftp.nlst())


def c_delay_completion(ftp, root):
    (reply, got), elapsed = timed(lambda: retrieve(ftp, "big.bin"))
    return reply, sha256(got) == sha256(DATA), elapsed >= 0.4


def c_delay_command(ftp, root):
    reply, elapsed = timed(ftp.pwd)
    return reply, elapsed >= 0.4


def c_rate(ftp, root):
    (reply, got), elapsed = timed(lambda: retrieve(ftp, "small.bin"))
    return reply, sha256(got) == sha256(SMALL), elapsed >= 0.9 * (len(SMALL) - 32768) / 131072


def c_rate_upload(ftp, root):
    reply, elapsed = timed(lambda: store(ftp, "up.bin", SMALL))
    return (reply, sha256((root / "up.bin").read_bytes()) == sha256(SMALL),
            elapsed >= 0.9 * (len(SMALL) - 32768) / 131072)


def c_drop_command(ftp, root):
    return final(ftp.pwd)


def c_drop_completion(ftp, root):
    return retrieve(ftp, "big.bin")[0]


def c_reset_command(ftp, root):
    return closed_without_reply(ftp.pwd)


def c_reset_upload(ftp, root):
    return closed_without_reply(lambda: ftp.storbinary("STOR up.bin", io.BytesIO(DATA)))


def c_keep_no(ftp, root):
    return store(ftp, "up.bin", DATA), (root / "up.bin").exists()


def c_keep_no_cut(ftp, root):
    return store(ftp, "up.bin", DATA), (root / "up.bin").exists()


def c_login(ftp, root):
    ftp.quit()
    again = ftplib.FTP_TLS(context=insecure_context(), timeout=DEADLINE) if isinstance(
        ftp, ftplib.FTP_TLS) else ftplib.FTP(timeout=DEADLINE)
    again.connect("127.0.0.1", ftp.port)
    first = final(lambda: again.login(USER, PASSWORD))
    second = again.login(USER, PASSWORD)
    if isinstance(again, ftplib.FTP_TLS):
        again.prot_p()
    return first, second, again  # the session that goes on


M426, M451 = f"426 {STANDARD_MESSAGES[426]}", f"451 {STANDARD_MESSAGES[451]}"
TLS_CASES = [
    # id, rule, client, expected, keeps the connection, (point, code) fired
    ("upload=451", "upload=451", c_upload_code, (M451, True), True, ("upload", 451)),
    ("download=452", "download=452:Full", c_download_code, ("452 Full", True), True,
     ("download", 452)),
    ("list=450", "list=450", c_list_code, (f"450 {STANDARD_MESSAGES[450]}"), True, ("list", 450)),
    ("download-cut", "download,after=100000", c_download_cut, (M426, 100_000, True), True,
     ("download", 426)),
    ("upload-cut", "upload=451,after=100000", c_upload_cut, (M451, True), True, ("upload", 451)),
    ("upload-start", "upload-start", c_upload_start, (f"425 {STANDARD_MESSAGES[425]}", False),
     True, ("upload-start", 425)),
    ("download-start", "download-start=450", c_download_start,
     (f"450 {STANDARD_MESSAGES[450]}", b""), True, ("download-start", 450)),
    ("list-start", "list-start=451", c_list_start, M451, True, ("list-start", 451)),
    ("cmd:MKD", "cmd:MKD=550:No dirs", c_cmd_mkd, ("550 No dirs", False), True, ("cmd:MKD", 550)),
    ("cmd:SIZE", "cmd:SIZE=550", c_cmd_size, f"550 {STANDARD_MESSAGES[550]}", True,
     ("cmd:SIZE", 550)),
    ("data", "data=425", c_data, f"425 {STANDARD_MESSAGES[425]}", True, ("data", 425)),
    ("delay-completion", "download=451,delay=0.4", c_delay_completion, (M451, True, True), True,
     ("download", 451)),
    ("delay-command", "cmd:PWD,delay=0.4", c_delay_command, ("/", True), True, ("cmd:PWD", 0)),
    ("rate-download", "download,rate=131072", c_rate,
     ("226 Transfer complete.", True, True), True, ("download", 0)),
    ("rate-upload", "upload,rate=131072", c_rate_upload,
     ("226 Transfer complete.", True, True), True, ("upload", 0)),
    ("drop-command", "cmd:PWD,drop", c_drop_command, f"421 {STANDARD_MESSAGES[421]}", False,
     ("cmd:PWD", 421)),
    ("drop-completion", "download=451,drop", c_drop_completion, M451, False, ("download", 451)),
    ("reset-command", "cmd:PWD,reset", c_reset_command, "closed", False, ("cmd:PWD", 0)),
    ("reset-upload", "upload,reset", c_reset_upload, "closed", False, ("upload", 0)),
    ("keep=no", "upload=452,keep=no", c_keep_no, (f"452 {STANDARD_MESSAGES[452]}", False), True,
     ("upload", 452)),
    ("keep=no-cut", "upload,after=100000,keep=no", c_keep_no_cut, (M426, False), True,
     ("upload", 426)),
    ("login", "login=530,times=1", c_login, None, True, ("login", 530)),
]


@pytest.mark.parametrize("mode", ["ftp", "ftps"])
@pytest.mark.parametrize("case", TLS_CASES, ids=[c[0] for c in TLS_CASES])
def test_the_same_faults_over_ftp_and_ftps(case, mode, tmp_path):
    _, spec, client, expected, keeps, (point, code) = case
    tls = mode == "ftps"
    with FaultServer(root=tmp_path, tls=tls) as srv:
        (tmp_path / "big.bin").write_bytes(DATA)
        (tmp_path / "small.bin").write_bytes(SMALL)
        ftp = login(srv.port, tls=tls)
        if tls:
            assert isinstance(ftp.sock, ssl.SSLSocket)
        rule = srv.arm(spec)
        seen = client(ftp, tmp_path)
        if client is c_login:
            first, second, ftp = seen
            assert first == f"530 {STANDARD_MESSAGES[530]}" and second.startswith("230")
        else:
            assert seen == expected
        if keeps:
            noop_ok(ftp)
            ftp.quit()
        else:
            with pytest.raises((EOFError, OSError)):
                ftp.voidcmd("NOOP")
        ftp.close()
        (fault,) = srv.fired()
        assert (fault.rule, fault.point, fault.code) == (rule.id, point, code)
        if tls:  # every data connection of the session was protected
            commands = [(e.command, e.arg) for e in srv.events("command")]
            assert ("AUTH", "TLS") in commands and ("PROT", "P") in commands
            assert ("PROT", "C") not in commands


def raw_tls_session(port: int) -> tuple[socket.socket, ssl.SSLSocket]:
    raw = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
    reader = raw.makefile("rb")
    assert reader.readline().startswith(b"220")
    raw.sendall(b"AUTH TLS\r\n")
    assert reader.readline().startswith(b"234")
    reader.close()
    tls = insecure_context().wrap_socket(raw, suppress_ragged_eofs=False)
    for line, code in ((b"USER testuser", b"331"), (b"PASS testpass", b"230")):
        tls.sendall(line + b"\r\n")
        assert tls.recv(1024).startswith(code)
    return raw, tls


def test_reset_over_tls_sends_no_close_notify():
    """A reset over TLS must look like one: the connection ends without a TLS close_notify
    (Python's ssl then raises SSLEOFError; a close_notify reads as a clean b'')."""
    with FaultServer(tls=True, faults=["cmd:PWD,reset"]) as srv:
        raw, tls = raw_tls_session(srv.port)
        with tls:
            tls.sendall(b"PWD\r\n")
            readable, _, _ = select.select([tls], [], [], DEADLINE)
            assert readable
            with pytest.raises((ssl.SSLEOFError, ConnectionResetError)):
                tls.recv(1024)


@pytest.fixture
def tls_server(tmp_path):
    with FaultServer(root=tmp_path / "ftps", tls=True) as srv:
        yield srv


def curl(server: FaultServer, *args: str, path: str = "") -> subprocess.CompletedProcess:
    url = f"ftp://{server.user}:{server.password}@127.0.0.1:{server.port}/{path}"
    return subprocess.run([CURL, "-sS", "--ssl-reqd", "-k", "--max-time", str(DEADLINE), *args,
                           url], capture_output=True, timeout=DEADLINE + 5)


@pytest.mark.skipif(CURL is None, reason="curl is not installed")
def test_curl_ssl_reqd_against_the_tls_fixture(ftp_fault_server_tls, tmp_path):
    srv = ftp_fault_server_tls
    (srv.root / "f.bin").write_bytes(DATA)
    clean = curl(srv, path="f.bin")
    assert (clean.returncode, clean.stderr) == (0, b"")
    assert sha256(clean.stdout) == sha256(DATA)

    srv.arm("download=451,times=1")
    faulted = curl(srv, path="f.bin")
    assert faulted.returncode == 18
    assert faulted.stderr.decode().strip() == "curl: (18) server did not report OK, got 451"
    assert sha256(faulted.stdout) == sha256(DATA)  # every byte came before the fault

    local = tmp_path / "up.bin"
    local.write_bytes(SMALL)
    srv.arm("upload=452,times=1")
    faulted = curl(srv, "-T", str(local), path="up.bin")
    assert faulted.returncode == 18
    assert b"got 452" in faulted.stderr
    clean = curl(srv, "-T", str(local), path="up2.bin")
    assert clean.returncode == 0, clean.stderr
    assert sha256((srv.root / "up2.bin").read_bytes()) == sha256(SMALL)

    srv.arm("download,after=100000,times=1")
    cut = curl(srv, path="f.bin")  # curl knows the size (SIZE) and sees the cut
    assert cut.returncode == 18 and sha256(cut.stdout) == sha256(DATA[:100_000])
    assert b"transfer closed with 200000 bytes remaining" in cut.stderr

    assert [(e.point, e.code) for e in srv.fired()] == [("download", 451), ("upload", 452),
                                                        ("download", 426)]
    commands = [(e.command, e.arg) for e in srv.events("command")]
    assert ("PROT", "P") in commands and ("PROT", "C") not in commands
    assert not any(c == "USER" for c, _ in commands[:commands.index(("AUTH", "SSL"))])


def test_tls_required_refuses_plain_sessions_and_plain_data(tmp_path, headless):
    (tmp_path / "f.txt").write_bytes(b"secret")
    server = headless("--tls-required", "--port", "0", "--root", str(tmp_path))
    assert server.banner.endswith("tls=required")

    plain = ftplib.FTP(timeout=DEADLINE)
    plain.connect("127.0.0.1", server.port)
    with pytest.raises(ftplib.error_perm, match="^550 SSL/TLS required on the control channel"):
        plain.login(USER, PASSWORD)
    plain.close()

    ftp = login(server.port, tls=True, prot_p=False)
    ftp.voidcmd("PBSZ 0")
    assert ftp.prot_c().startswith("200")
    with pytest.raises(ftplib.error_perm, match="^550 SSL/TLS required on the data channel"):
        ftp.retrbinary("RETR f.txt", lambda b: None)
    noop_ok(ftp)
    ftp.prot_p()
    got = bytearray()
    assert ftp.retrbinary("RETR f.txt", got.extend).startswith("226") and got == b"secret"
    ftp.quit()
    assert server.stop() == 0


def test_tls_required_in_the_testing_api(tmp_path):
    with FaultServer(root=tmp_path, tls_required=True) as srv:
        plain = ftplib.FTP(timeout=DEADLINE)
        plain.connect("127.0.0.1", srv.port)
        with pytest.raises(ftplib.error_perm, match="^550"):
            plain.login(USER, PASSWORD)
        plain.close()
        assert code_of(upload_once(srv.port, "a.bin", tls=True)) == 226


def test_tls_makes_a_self_signed_certificate_at_start(tmp_path, headless):
    from cryptography import x509

    server = headless("--tls", "--port", "0", "--root", str(tmp_path))
    assert server.banner.endswith("tls=explicit")
    ftp = login(server.port, tls=True)
    cert = x509.load_der_x509_certificate(ftp.sock.getpeercert(binary_form=True))
    ftp.quit()
    assert cert.issuer == cert.subject  # self-signed
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert [str(a) for a in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert server.stop() == 0


def test_cert_and_key_are_served_and_verify(tmp_path, headless):
    certs = tmp_path / "certs"
    certs.mkdir()
    cert, key = make_self_signed(certs)
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "f.txt").write_bytes(b"verified")
    server = headless("--cert", str(cert), "--key", str(key), "--port", "0",
                      "--root", str(tmp_path / "root"))
    assert server.banner.endswith("tls=explicit")  # a certificate means FTPS
    verifying = ssl.create_default_context(cafile=str(cert))  # and checks 127.0.0.1
    ftp = ftplib.FTP_TLS(context=verifying, timeout=DEADLINE)
    ftp.connect("127.0.0.1", server.port)
    ftp.login(USER, PASSWORD)
    ftp.prot_p()
    # (not an empty listing: with TLS 1.3, ftplib's unwrap() of an empty data connection
    # sometimes fails, "shutdown while in init", against bare pyftpdlib too: bpo-34391)
    assert retrieve(ftp, "f.txt") == ("226 Transfer complete.", b"verified")
    ftp.quit()
    assert server.stop() == 0


def bad_cert_case(tmp_path: Path, kind: str) -> tuple[list[str], Path]:
    good = tmp_path / "good"
    good.mkdir()
    cert, key = make_self_signed(good)
    text = tmp_path / "notes.txt"
    text.write_text("not a certificate\n")
    return {
        "missing-cert": (["--cert", str(tmp_path / "none.pem")], tmp_path / "none.pem"),
        "not-pem": (["--cert", str(text)], text),
        "missing-key": (["--cert", str(cert), "--key", str(tmp_path / "nokey.pem")],
                        tmp_path / "nokey.pem"),
        "key-not-pem": (["--cert", str(cert), "--key", str(text)], text),
        "cert-without-its-key": (["--cert", str(cert)], cert),
    }[kind]


@pytest.mark.parametrize("kind", ["missing-cert", "not-pem", "missing-key", "key-not-pem",
                                  "cert-without-its-key"])
def test_a_bad_certificate_is_one_clear_line_exit_1(tmp_path, kind):
    args, culprit = bad_cert_case(tmp_path, kind)
    result = run("--headless", "--tls", "--port", "0", "--root", str(tmp_path / "root"), *args)
    assert result.returncode == 1 and result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("ftpfault: error: "), result.stderr
    assert "Traceback" not in result.stderr
    assert str(culprit) in lines[0], lines[0]
    if "key" in kind:
        assert "key" in lines[0].replace(str(culprit), "")
