"""Settings from a profile's ``[server]`` table: each one checked by its kind, and merged
under the command line (what the command line gives wins, the rest comes from the profile).

The settings are one typed table (tui/engine/settings.py) that both the command line and
profiles read; they meet in ``ftpfault``'s option handling, so that is what these tests
call, in-process: ``cli.main`` for the errors, ``cli.resolve`` for the merged result.
A headless run with a profile's settings is in tests/automation/test_cli.py.
"""

from __future__ import annotations

import pytest

from tests.support.servers import write_profile
from tui.cli import serve as cli
from tui.engine.ftp.tls import make_self_signed

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
    ("idle_timeout = 0", "idle_timeout", "must be more than 0"),
    ('hide_feat = "EPSV,XYZ"', "hide_feat", "'XYZ': features are a comma-separated list of"),
    ("hide_feat = 5", "hide_feat", 'must be "MLST,EPSV" or ["MLST", "EPSV"]'),
    ('list_format = "vms"', "list_format", "'vms' is not a listing format (unix or dos)"),
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
    assert [(r.spec, source) for r, source in options.rules] == [("upload=451", f"profile {path}")]

    options = resolve("--profile", str(path), "--port", "0", "--user", "bob", "--seed", "8",
                      "--root", str(tmp_path / "cli"), "--masquerade", "10.9.9.9",
                      "--passive-ports", "61000-61001", "--fault", "download=426")
    s = options.settings
    assert (s.port, s.root, s.user, s.password, s.seed, s.masquerade) == (
        0, tmp_path / "cli", "bob", "pw", 8, "10.9.9.9")
    assert s.passive_ports == range(61000, 61002)
    # the profile's rules first, then the command line's
    assert [r.spec for r, _ in options.rules] == ["upload=451", "download=426"]


def test_a_certificate_in_a_profile_means_ftps(tmp_path):
    cert, key = make_self_signed(tmp_path)
    path = write_profile(tmp_path / "tls.toml", f'[server]\ncert = "{cert}"\nkey = "{key}"\n')
    s = resolve("--profile", str(path)).settings
    assert (s.tls, s.cert, s.key) == (True, cert, key)


def test_the_dialect_settings_from_a_profile_and_the_command_line(tmp_path):
    path = write_profile(tmp_path / "old.toml", '''
[server]
idle_timeout = 30
hide_feat = ["mlst", "EPSV"]
list_format = "dos"
''')
    s = resolve("--profile", str(path)).settings
    assert (s.idle_timeout, s.hide_feat, s.list_format) == (30.0, frozenset({"MLST", "EPSV"}), "dos")
    assert s.to_json()["hide_feat"] == "EPSV,MLST"
    s = resolve("--profile", str(path), "--hide-feat", "utf8", "--list-format", "unix",
                "--idle-timeout", "2.5").settings
    assert (s.idle_timeout, s.hide_feat, s.list_format) == (2.5, frozenset({"UTF8"}), "unix")
    s = resolve().settings
    assert (s.idle_timeout, s.hide_feat, s.list_format) == (300.0, None, "unix")
