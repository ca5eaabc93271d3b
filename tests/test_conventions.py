"""The conventions of a good command line: -V, shell completion, --verbose/--quiet/--debug, the user config file
and its order (flags > environment > config), --format json everywhere results are printed, SARIF, the pager,
`records purge --dry-run`, and usage lines without braces."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from .conftest import ROOT, iop_in_process

ANSWERS = ROOT / "examples" / "answers" / "iop-candidate.yaml"


def test_version_short_and_long():
    from iop_cli import __version__

    for flag in ("-V", "--version"):
        result = iop_in_process(flag)
        assert (result.returncode, result.stdout) == (0, f"iop-cli {__version__}\n")


@pytest.mark.parametrize(
    "shell,marker", [("bash", "complete -o"), ("zsh", "compdef"), ("fish", "complete --command iop")]
)
def test_completion_script_and_the_completions_it_asks_for(shell, marker):
    script = iop_in_process("completion", shell)
    assert script.returncode == 0 and "_IOP_COMPLETE" in script.stdout and marker in script.stdout
    # What the bash script asks `iop` for at Tab: the commands, then an option's choices.
    asked = {"_IOP_COMPLETE": "complete_bash", "COMP_WORDS": "iop sc", "COMP_CWORD": "1"}
    assert iop_in_process(env=asked).stdout.split() == ["score"]
    asked = {"_IOP_COMPLETE": "complete_bash", "COMP_WORDS": "iop score in.csv --format ", "COMP_CWORD": "4"}
    assert iop_in_process(env=asked).stdout.split() == ["csv", "jsonl", "parquet", "xlsx"]


def test_completion_refuses_an_unknown_shell():
    result = iop_in_process("completion", "tcsh")
    assert result.returncode == 2 and "tcsh" in result.stderr


def test_verbose_says_what_is_used_and_never_an_answer(tmp_path):
    plain = iop_in_process("check", "--answers", str(ANSWERS), "--format", "json")
    loud = iop_in_process("--verbose", "check", "--answers", str(ANSWERS), "--format", "json")
    assert loud.returncode == plain.returncode == 0
    assert json.loads(loud.stdout)["level"] == json.loads(plain.stdout)["level"]  # stdout is the result alone
    assert plain.stderr == ""
    lines = loud.stderr.splitlines()
    assert lines[0].startswith("iop: config file ") and lines[1].startswith("iop: rule pack iop-default 2.0.0 (")
    assert all(line.startswith("iop: ") for line in lines)
    assert "alcohol" not in loud.stderr and "34" not in loud.stderr  # no answer from the file


def test_quiet_drops_chatter_but_not_errors(db):
    with sqlite3.connect(db) as con:
        con.execute("UPDATE intakes SET updated_at = '2020-01-01T00:00:00+00:00' WHERE id = 1")
    env = {"IOP_DB": str(db)}
    result = iop_in_process("--quiet", "records", "purge", "--older-than", "30", "--yes", env=env)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    missing = iop_in_process("-q", "records", "show", "1", env=env)
    assert missing.returncode == 1 and missing.stderr.startswith("error: ")


def test_debug_shows_the_traceback_of_an_internal_error(monkeypatch):
    from iop_cli.commands import check

    def broken(rules):
        raise RuntimeError("a bug")

    monkeypatch.setattr(check, "load_pack_or_fail", broken)
    quiet = iop_in_process("check", "--answers", str(ANSWERS))
    assert quiet.returncode == 70 and quiet.stderr.strip() == (
        "iop: internal error (RuntimeError); rerun with IOP_DEBUG=1 to see where"
    )
    with pytest.raises(RuntimeError, match="a bug"):
        iop_in_process("--debug", "check", "--answers", str(ANSWERS))


def _config(tmp_path, text: str):
    path = tmp_path / "config.toml"
    path.write_text(text)
    return {"IOP_CONFIG": str(path)}


def test_config_file_below_environment_below_flags(tmp_path):
    config = _config(tmp_path, f'db = "{tmp_path}/from-config.sqlite3"\nfacility = "Riverside"\n')
    # `records list` names the database it looked for: the config's, the environment's, then the flag's.
    found = iop_in_process("records", "list", env=config)
    assert found.returncode == 1 and "from-config.sqlite3" in found.stderr
    from_env = iop_in_process("records", "list", env={**config, "IOP_DB": str(tmp_path / "from-env.sqlite3")})
    assert "from-env.sqlite3" in from_env.stderr
    env = {**config, "IOP_DB": str(tmp_path / "from-env.sqlite3")}
    from_flag = iop_in_process("records", "list", "--db", str(tmp_path / "from-flag.sqlite3"), env=env)
    assert "from-flag.sqlite3" in from_flag.stderr
    shown = json.loads(iop_in_process("config", "show", "--format", "json", env=env).stdout)
    sources = {s["setting"]: (s["value"], s["source"]) for s in shown["settings"]}
    assert sources["db"] == (str(tmp_path / "from-env.sqlite3"), "environment (IOP_DB)")
    assert sources["facility"] == ("Riverside", f"config file ({tmp_path / 'config.toml'})")
    assert sources["counselor"] == (None, "built-in default")
    text = iop_in_process("config", "show", env=config).stdout
    assert f"db         {tmp_path}/from-config.sqlite3  [config file (" in text


def test_config_rules_reach_every_command_with_rules(tmp_path):
    config = _config(tmp_path, f'rules = "{ROOT / "tests" / "packs" / "v1"}"\n')
    result = iop_in_process("--verbose", "check", "--answers", str(ANSWERS), "--format", "json", env=config)
    assert f"from {ROOT / 'tests' / 'packs' / 'v1'}" in result.stderr
    assert json.loads(result.stdout)["pack"]["version"].startswith("1.")


@pytest.mark.parametrize(
    "text,message",
    [
        ('dbb = "x"\n', "unknown setting 'dbb' (did you mean db?)"),
        ("db = \n", ":1:6: not a valid TOML config file: Invalid value"),
        ("db = 5\n", "db must be a non-empty text in quotes"),
    ],
)
def test_a_broken_config_file_is_one_line(tmp_path, text, message):
    env = _config(tmp_path, text)
    result = iop_in_process("config", "show", env=env)
    assert result.returncode == 1 and len(result.stderr.splitlines()) == 1
    assert message in result.stderr and "Traceback" not in result.stderr
    assert "config.toml:1" in result.stderr  # the line that is wrong
    assert iop_in_process("-V", env=env).returncode == 0  # the version and the help still show
    assert iop_in_process("--help", env=env).returncode == 0


def test_a_config_file_named_by_iop_config_must_be_there(tmp_path):
    result = iop_in_process("config", "show", env={"IOP_CONFIG": str(tmp_path / "nope.toml")})
    assert result.returncode == 1 and "no such config file (IOP_CONFIG names it)" in result.stderr


def test_usage_lines_have_no_braces():
    import typer.main

    from iop_cli.cli import app

    def walk(command, path):
        yield path
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, [*path, name])

    for path in walk(typer.main.get_command(app), []):
        usage = next(line for line in iop_in_process(*path, "--help").stdout.splitlines() if "Usage:" in line)
        assert "{" not in usage and "}" not in usage, usage
    assert "Usage: iop records show [OPTIONS] ID" in iop_in_process("records", "show", "--help").stdout


def test_records_list_format_json_and_its_alias(db):
    env = {"IOP_DB": str(db)}
    by_format = iop_in_process("records", "list", "--format", "json", env=env)
    assert by_format.returncode == 0 and by_format.stdout == iop_in_process("records", "list", "--json", env=env).stdout
    assert [r["id"] for r in json.loads(by_format.stdout)] == [2, 1]


def test_purge_dry_run_deletes_nothing(db):
    with sqlite3.connect(db) as con:
        con.execute("UPDATE intakes SET updated_at = '2020-01-01T00:00:00+00:00' WHERE id = 1")
    env = {"IOP_DB": str(db)}
    before = db.read_bytes()
    result = iop_in_process("records", "purge", "--older-than", "30", "--dry-run", env=env)
    assert result.returncode == 0
    assert result.stdout == "Would delete 1 record(s) older than 30 days: 1\n"
    assert "Nothing was deleted (--dry-run)." in result.stderr
    assert db.read_bytes() == before
    assert len(json.loads(iop_in_process("records", "list", "--json", env=env).stdout)) == 2


def test_long_output_goes_through_the_pager_on_a_terminal(db, tmp_path):
    paged = tmp_path / "paged.txt"
    env = {"IOP_DB": str(db), "PAGER": f"cat > {paged}", "LINES": "10"}
    shown = iop_in_process("records", "show", "1", env=env, terminal=True)
    assert shown.returncode == 0 and shown.stdout == ""
    assert "Actual: Standard outpatient treatment (1 step down)" in paged.read_text()
    doc = iop_in_process("rules", "doc", env=env, terminal=True)
    assert doc.returncode == 0 and doc.stdout == "" and paged.read_text().startswith("# ")
    # Not a terminal, or a text that fits the screen: printed as it is.
    plain = iop_in_process("records", "show", "1", env=env)
    assert "Actual: Standard outpatient" in plain.stdout
    fits = iop_in_process("records", "show", "2", env={**env, "LINES": "200"}, terminal=True)
    assert "iop intake --resume 2" in fits.stdout
    none = iop_in_process("rules", "doc", env={**env, "PAGER": ""}, terminal=True)
    assert none.stdout.startswith("# ")


def test_the_config_folder_is_the_one_platformdirs_names(monkeypatch):
    """Written out to keep platformdirs off every command's start; it must name the same folder."""
    from platformdirs import user_config_dir

    from iop_cli.commands.config import config_path

    monkeypatch.delenv("IOP_CONFIG", raising=False)
    assert config_path().parent == Path(user_config_dir("iop-cli", appauthor=False))


@pytest.mark.parametrize(
    "args,line",
    [
        (["completion", "tcsh"], "error: iop completion: Invalid value for 'SHELL': 'tcsh' is not one of"),
        (["score"], "error: iop score: Missing argument 'INPUT'. (see iop score --help)"),
        (["records", "show", "abc"], "error: iop records show: Invalid value for 'ID': 'abc' is not a valid int."),
        (
            ["records", "purge", "--older-than", "1", "--format", "json"],
            "error: iop records purge: No such option: --format",
        ),
        (["nosuch"], "error: iop: No such command 'nosuch'. (see iop --help)"),
    ],
)
def test_a_usage_error_is_one_line_and_exit_2(args, line):
    result = iop_in_process(*args)
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith(line), result.stderr


def test_a_bad_pack_from_the_config_file_says_where_it_was_set(tmp_path):
    config = _config(tmp_path, f'rules = "{tmp_path}/no-such-pack"\n')
    result = iop_in_process("check", "--answers", str(ANSWERS), env=config)
    assert result.returncode == 1
    assert (
        result.stderr.splitlines()[-1]
        == f"error: {tmp_path / 'config.toml'}: `rules` names this pack (fix or remove the setting)"
    )
    flagged = iop_in_process("check", "--answers", str(ANSWERS), "--rules", str(tmp_path / "other"), env=config)
    assert flagged.returncode == 1 and "config.toml" not in flagged.stderr  # the flag gave it, not the file
