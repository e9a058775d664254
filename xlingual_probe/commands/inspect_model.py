"""``xprobe inspect MODEL``: print the map of a model's weights (layers, attention / feed-forward)."""

from __future__ import annotations

from typing import Annotated

import typer

from xlingual_probe.models import format_model_map, get_model_map, load_model
from xlingual_probe.models.units import resolve_model_name


def inspect_command(
    model: Annotated[str, typer.Argument(help="Hub name, local folder, or 'synthetic'.")],
    head: Annotated[str, typer.Option(help="Task head: sequence, token or qa.")] = "sequence",
    num_labels: Annotated[int, typer.Option(help="Labels of the head.")] = 3,
    trust_remote_code: Annotated[bool, typer.Option(help="Allow model code from the hub.")] = False,
) -> None:
    """Show how xlingual-probe sees MODEL: embeddings, each layer's attention and feed-forward, head."""
    loaded, _ = load_model(resolve_model_name(model), head, num_labels, trust_remote_code=trust_remote_code)
    typer.echo(format_model_map(loaded, get_model_map(loaded)))
