"""Every option of every command: readable errors, help with defaults, -v anywhere, and no
traceback for anything that escapes a command (only with -vv)."""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fibuca_desktop.__main__ import build_parser, configure_logging, run_command
from fibuca_desktop.cli.parser import verbosity
from fibuca_desktop.core.errors import UsageError


def _commands(parser: argparse.ArgumentParser, prefix=()):
    """Every (command words, parser) pair, nested subcommands included."""
    yield prefix, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _commands(sub, (*prefix, name))


COMMANDS = list(_commands(build_parser()))
OPTIONS = [
    (words, action)
    for words, parser in COMMANDS
    for action in parser._actions
    if action.option_strings
    and not isinstance(action, argparse._HelpAction | argparse._VersionAction)
]
TYPED = [(w, action) for w, action in OPTIONS if action.type not in (None, str, Path)]


def _id(item) -> str:
    words, action = item
    return " ".join((*words, action.option_strings[-1]))


@pytest.mark.parametrize("item", OPTIONS, ids=_id)
def test_every_option_says_what_it_does_and_its_default(item):
    words, action = item
    assert action.help and action.help.strip(), f"{_id(item)} has no help"
    if action.default not in (None, False, argparse.SUPPRESS) and not isinstance(
        action.default, list
    ):
        parser = dict(COMMANDS)[words]
        text = " ".join(parser.format_help().split())
        assert "default" in action.help or f"(default: {action.default})" in text


@pytest.mark.parametrize("item", TYPED, ids=_id)
@pytest.mark.parametrize("bad", ["abc", "", "1e999x"])
def test_a_bad_value_is_named_in_plain_words(item, bad, capsys):
    words, action = item
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([*words, action.option_strings[-1], bad])
    assert exit_info.value.code == 2
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert action.option_strings[-1] in message
    assert "invalid _" not in message and "Traceback" not in message
    assert " value: " not in message or "is not" in message


# Options whose values the parser itself bounds (the others are checked by their command).
BOUNDED = [(w, a) for w, a in TYPED if not w or w[0] == "db"]


def test_the_bounded_options_are_the_window_s_and_every_db_option():
    assert {_id(item) for item in BOUNDED} >= {
        "--quit-after",
        "db slow --min-mean-ms",
        "db slow --min-calls",
        "db advise --min-rows",
        "db apply --lock-timeout",
    }


@pytest.mark.parametrize("item", BOUNDED, ids=_id)
@pytest.mark.parametrize("bad", ["nan", "inf", "-inf", "-1", "1e400", "99999999999999999999999"])
def test_a_number_out_of_range_is_refused_before_anything_runs(item, bad, capsys):
    """``--min-mean-ms nan`` matched no query ("none above the thresholds"), ``--lock-timeout
    nan`` was an unexpected ValueError and ``1e300`` was blamed on the URL."""
    words, action = item
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([*words, f"{action.option_strings[-1]}={bad}"])
    assert exit_info.value.code == 2
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert action.option_strings[-1] in message
    assert "out of range" in message or "is not" in message


@pytest.mark.parametrize("zero", ["0", "0.0004"])
def test_a_lock_timeout_of_zero_which_postgresql_reads_as_no_limit_is_refused(zero, capsys):
    argv = ["db", "apply", "--table", "t", "--columns", "c", "--lock-timeout", zero]
    with pytest.raises(SystemExit):
        build_parser().parse_args(argv)
    assert "out of range; use 0.001 to" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["db", "overview"], 0),
        (["-v", "db", "overview"], 1),
        (["db", "overview", "-vv"], 2),
        (["db", "-v", "overview"], 1),
        (["-v", "process", "x", "-o", "y", "-v"], 2),
        (["monitor", "--local", "-vv"], 2),
        (["models", "list", "--verbose"], 1),
    ],
)
def test_verbose_counts_before_and_after_the_command(argv, expected):
    assert verbosity(build_parser().parse_args(argv)) == expected


def _raising(error: BaseException):
    def run(args):
        raise error

    return run


def test_an_unexpected_error_is_one_line_with_the_traceback_only_at_debug(capsys):
    args = argparse.Namespace(command="process", run=_raising(OverflowError("int too large\nmore")))
    assert run_command(args) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("fibuca-desktop process: unexpected error (OverflowError: int too large)")
    assert "-vv" in err
    root = logging.getLogger()
    handlers = list(root.handlers)
    try:
        configure_logging(2)
        assert run_command(args) == 1
        assert "Traceback (most recent call last)" in capsys.readouterr().err
    finally:
        root.handlers[:] = handlers  # exactly as before: configure_logging replaces its own


def test_a_domain_error_is_its_message(capsys):
    args = argparse.Namespace(command="db", db_action="apply", run=_raising(UsageError("Do X.")))
    assert run_command(args) == 1
    assert capsys.readouterr().err == "fibuca-desktop db apply: error: Do X.\n"


def test_help_runs_for_every_command():
    for words, _parser in COMMANDS:
        result = subprocess.run(
            [sys.executable, "-m", "fibuca_desktop", *words, "--help"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, (words, result.stderr)
        assert "-v, --verbose" in result.stdout


@pytest.mark.parametrize(("verbosity", "traceback_shown"), [(0, False), (1, False), (2, True)])
def test_a_logged_traceback_reaches_the_terminal_only_with_vv(capsys, verbosity, traceback_shown):
    """A bug in one photo's job is logged with its traceback (the batch goes on, the log file
    keeps it); the terminal gets one line unless -vv."""
    root = logging.getLogger()
    handlers = list(root.handlers)
    try:
        configure_logging(verbosity)
        try:
            raise ValueError("encoding error 5")
        except ValueError:
            logging.getLogger("fibuca_desktop.core.imaging.pipeline").exception(
                "unexpected error processing %s", "/photos/car.jpg"
            )
    finally:
        root.handlers[:] = handlers  # exactly as before: configure_logging replaces its own
    err = capsys.readouterr().err
    assert "unexpected error processing /photos/car.jpg" in err
    assert ("Traceback (most recent call last)" in err) == traceback_shown
    if not traceback_shown:
        assert err.count("\n") == 1 and "-vv shows the traceback" in err


def test_help_never_shows_the_database_url_it_defaults_to():
    """--url defaults to $DATABASE_URL; "(default: ...)" must not print it, password and all."""
    env = dict(os.environ, DATABASE_URL="postgresql://ro:Zq8-help-Xy@db.example.com/shop")
    for words, _parser in COMMANDS:
        if words[:1] != ("db",):
            continue
        result = subprocess.run(
            [sys.executable, "-m", "fibuca_desktop", *words, "--help"],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
        assert result.returncode == 0, result.stderr
        assert "Zq8" not in result.stdout and "db.example.com" not in result.stdout


def test_logging_configured_twice_in_one_process_prints_each_record_once(capsys):
    """main() run twice in one process (a test, the self-test) must not stack handlers, and a
    handler must follow sys.stderr rather than keep a stream that was replaced or closed."""
    root = logging.getLogger()
    handlers = list(root.handlers)
    try:
        configure_logging(0)
        capsys.readouterr()  # a new stderr from here on, as the next test would see
        configure_logging(0)
        logging.getLogger("fibuca_desktop.test_twice").warning("said once")
    finally:
        root.handlers[:] = handlers  # exactly as before: configure_logging replaces its own
    err = capsys.readouterr().err
    assert err.count("said once") == 1 and "Logging error" not in err
