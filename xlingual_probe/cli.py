"""The ``xprobe`` command line (also ``xlingual-probe`` and ``python -m xlingual_probe``).

Every subcommand builds a config and calls a library function; problems with the user's input
become one ``error:`` line and exit status 2, a full or read-only disk one ``error:`` line and exit
status 1, never a traceback; :class:`~xlingual_probe.utils.errors.RunWarning` s are one ``warning:``
line each. ``--help`` is laid out :func:`help_width` columns wide, piped or in a terminal.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import warnings

import typer
import typer.rich_utils

from xlingual_probe.commands.compare import compare_command
from xlingual_probe.commands.demo import demo_command
from xlingual_probe.commands.figures import figures_command
from xlingual_probe.commands.inspect_model import inspect_command
from xlingual_probe.commands.plot import plot_command
from xlingual_probe.commands.probe_alignment import probe_alignment_command
from xlingual_probe.commands.probe_cka import probe_cka_command
from xlingual_probe.commands.probe_layers import probe_layers_command
from xlingual_probe.commands.report import report_command
from xlingual_probe.commands.run import run_command
from xlingual_probe.commands.select import select_command
from xlingual_probe.commands.train import train_command
from xlingual_probe.experiments.executor import quiet_libraries
from xlingual_probe.training.provenance import ARGV_ENV
from xlingual_probe.utils.errors import RunWarning, UserError, disk_error_message

HELP_WIDTH = (100, 120)  # the narrowest and widest --help layout, in columns


def help_width(columns: int | None = None) -> int:
    """Columns for ``--help``: the terminal's width kept within :data:`HELP_WIDTH` (100 when piped).

    Below 100 columns the option table cuts long option names (``--max-ste…``) and wraps every
    help text into a narrow column; above 120 lines get hard to read.

    >>> help_width(50), help_width(110), help_width(300)
    (100, 110, 120)
    """
    columns = columns or shutil.get_terminal_size(fallback=(HELP_WIDTH[0], 24)).columns
    return max(HELP_WIDTH[0], min(columns, HELP_WIDTH[1]))


def set_help_width(width: int) -> None:
    """Lay ``--help`` out ``width`` columns wide (rich panels; click's formatter without rich)."""
    typer.rich_utils.MAX_WIDTH = width
    app.info.context_settings = {**(app.info.context_settings or {}), "max_content_width": width,
                                 "terminal_width": width}


app = typer.Typer(
    name="xprobe",
    help="Analyse and improve zero-shot cross-lingual fine-tuning of multilingual encoders.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("train", no_args_is_help=True)(train_command)
app.command("inspect", no_args_is_help=True)(inspect_command)

probe_app = typer.Typer(help="Analyses of fine-tuning: layer sweeps (Fig. 3, Tables 1/6), CKA (Fig. 6) and "
                             "cross-lingual alignment per layer.", no_args_is_help=True)
probe_app.command("layers", no_args_is_help=True)(probe_layers_command)
probe_app.command("cka", no_args_is_help=True)(probe_cka_command)
probe_app.command("alignment", no_args_is_help=True)(probe_alignment_command)
app.command("select", no_args_is_help=True)(select_command)
app.command("compare", no_args_is_help=True)(compare_command)
app.command("plot", no_args_is_help=True)(plot_command)
app.command("figures", no_args_is_help=True)(figures_command)
app.command("report", no_args_is_help=True)(report_command)
app.command("run", no_args_is_help=True)(run_command)
app.command("demo")(demo_command)
app.add_typer(probe_app, name="probe")
set_help_width(help_width())


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    if issubclass(category, RunWarning):
        typer.echo(f"warning: {message}", err=True)
    else:
        _default_show_warning(message, category, filename, lineno, file, line)


_default_show_warning = warnings.showwarning


def main() -> None:
    """Entry point: run the app, turning :class:`UserError` into a one-line message."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # every run records the outermost xprobe command in its config.json, also when a worker process trains it
    outer = ARGV_ENV in os.environ
    os.environ.setdefault(ARGV_ENV, json.dumps(["xprobe", *sys.argv[1:]]))
    quiet_libraries()
    warnings.showwarning = _show_warning
    try:
        app()
    except UserError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except OSError as exc:
        message = disk_error_message(exc)
        if message is None:
            raise
        typer.echo(f"error: {message}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        typer.echo("interrupted: unfinished runs can be continued with --resume", err=True)
        sys.exit(130)
    finally:
        if not outer:  # main() called in-process (tests, scripts) leaves the environment as it found it
            os.environ.pop(ARGV_ENV, None)
