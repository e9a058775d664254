"""The command line itself: --help layout, one-line errors and warnings."""

from __future__ import annotations

import errno

import pytest
import typer
from typer.testing import CliRunner

from xlingual_probe import cli


def command_paths(command, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and sub-command of the app, as argument prefixes (``("probe", "cka")``)."""
    paths = [prefix]
    if hasattr(command, "commands"):  # a group (typer ships its own click)
        for name, sub in command.commands.items():
            paths += command_paths(sub, prefix + (name,))
    return paths


COMMANDS = command_paths(typer.main.get_command(cli.app))


@pytest.mark.parametrize("columns", [40, 80, 100, 200])
@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "xprobe")
def test_help_fits_its_width_and_cuts_no_option_name(path, columns, monkeypatch):
    width = cli.help_width(columns)
    monkeypatch.setattr(typer.rich_utils, "MAX_WIDTH", width)
    result = CliRunner().invoke(cli.app, [*path, "--help"], env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= width
    assert "…" not in result.output  # rich marks a cut option name or text with an ellipsis
    command = typer.main.get_command(cli.app)
    for name in path:
        command = command.commands[name]
    for param in command.params:
        if param.param_type_name == "argument" and param.metavar:  # an argument is shown by its metavar if set
            shown = [param.metavar]
        else:
            shown = param.opts + param.secondary_opts
        for flag in shown:
            assert flag in result.output, f"{flag} missing from the help of {' '.join(path)}"


def test_help_width_is_within_bounds():
    assert cli.help_width(20) == 100 and cli.help_width(100) == 100 and cli.help_width(1000) == 120


def test_a_full_disk_is_one_error_line_with_exit_status_1(monkeypatch, capsys):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", "runs/x/steps.jsonl")

    monkeypatch.setattr(cli, "app", full)
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: cannot write runs/x/steps.jsonl: No space left")


def test_other_os_errors_are_not_hidden(monkeypatch):
    def broken(*args, **kwargs):
        raise OSError(errno.ENOENT, "No such file or directory")

    monkeypatch.setattr(cli, "app", broken)
    with pytest.raises(OSError):
        cli.main()


def test_run_warnings_are_one_warning_line(monkeypatch, capsys):
    import warnings

    from xlingual_probe.utils.errors import RunWarning

    def warn(*args, **kwargs):
        warnings.warn("skipped an incomplete run", RunWarning, stacklevel=1)

    monkeypatch.setattr(cli, "app", warn)
    monkeypatch.setattr(warnings, "showwarning", warnings.showwarning)  # restored after the test
    cli.main()
    assert capsys.readouterr().err == "warning: skipped an incomplete run\n"
