"""The ``xprobe`` command line (also ``xlingual-probe`` and ``python -m xlingual_probe``).

Every subcommand builds a config and calls a library function; problems with the user's input
become one ``error:`` line and exit status 2, never a traceback.
"""

from __future__ import annotations

import os
import sys

import typer

from xlingual_probe.commands.compare import compare_command
from xlingual_probe.commands.demo import demo_command
from xlingual_probe.commands.inspect_model import inspect_command
from xlingual_probe.commands.plot import plot_command
from xlingual_probe.commands.probe_cka import probe_cka_command
from xlingual_probe.commands.probe_layers import probe_layers_command
from xlingual_probe.commands.select import select_command
from xlingual_probe.commands.train import train_command
from xlingual_probe.experiments.executor import quiet_libraries
from xlingual_probe.utils.errors import UserError

app = typer.Typer(
    name="xprobe",
    help="Analyse and improve zero-shot cross-lingual fine-tuning of multilingual encoders.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("train", no_args_is_help=True)(train_command)
app.command("inspect", no_args_is_help=True)(inspect_command)

probe_app = typer.Typer(help="Analyses of fine-tuning: layer sweeps (Fig. 3, Tables 1/6) and CKA (Fig. 6).",
                        no_args_is_help=True)
probe_app.command("layers", no_args_is_help=True)(probe_layers_command)
probe_app.command("cka", no_args_is_help=True)(probe_cka_command)
app.command("select", no_args_is_help=True)(select_command)
app.command("compare", no_args_is_help=True)(compare_command)
app.command("plot", no_args_is_help=True)(plot_command)
app.command("demo")(demo_command)
app.add_typer(probe_app, name="probe")


def main() -> None:
    """Entry point: run the app, turning :class:`UserError` into a one-line message."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    quiet_libraries()
    try:
        app()
    except UserError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("interrupted: unfinished runs can be continued with --resume", err=True)
        sys.exit(130)
