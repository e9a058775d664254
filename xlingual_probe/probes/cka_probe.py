"""The CKA probe: how far each layer of the working model drifts from the pre-trained model.

Context:
    The paper (its Figure 6 and Appendix D) tracks, every hundred updates, the linear CKA between
    the hidden states of each layer of the model being fine-tuned and of the pre-trained model, on
    the current training batch. Bottom layers stay close to the pre-trained model; the top layers
    move, and whether the top layers keep moving in the second phase decides policy IV of
    slow-and-fast fine-tuning (SPEC "Auto-selection": on if the CKA of the V_I layers keeps falling).

Method:
    :class:`CKAProbe` is a training-loop callback. At the start of fine-tuning it keeps a frozen copy
    of the model as it is then (the "pre-trained model"), optionally on another device or in
    bfloat16 to save memory. Every ``every`` updates (default: the run's ``eval_every``; first at
    update ``every``, never at 0, where CKA would be 1 by construction) it runs both models on the
    batch the update just used, in eval mode under ``torch.inference_mode``, each once per probe step
    (every layer's hidden states come from that one forward pass), and computes per-layer linear
    CKA (:func:`~xlingual_probe.probes.cka.layerwise_cka`) between hidden state ℓ+1 of both models
    (the output of transformer layer ℓ; the embedding output is left out), over the tokens under
    the attention mask or over mean-pooled sentences. One record per layer goes to ``cka.jsonl``::

        {"step": 100, "layer": 0, "cka": 0.97, "pooling": "tokens", "debiased": false,
         "n": 4012, "cka_seconds": 0.41}

    Where CKA has no value (zero variance, NaN/inf hidden states, too few rows) ``cka`` is ``null``
    and ``cka_undefined`` says why; the probe never writes a NaN and never stops the run.

    ``n`` is the number of rows compared (tokens or sentences) and ``cka_seconds`` the probe's own
    wall time at that step (both forward passes and the CKA of every layer), the same in each of
    that step's records; :func:`cka_overhead` sums it against the run's training time.

What "pre-trained" means here:
    The copy is taken in ``on_train_begin`` of a fresh run, i.e. after the loop has loaded the
    checkpoint, re-initialised the ``--reinit`` units and frozen what it freezes, and before the
    first update: the starting point of fine-tuning. A callback listed *before* the probe that
    changes weights in its own ``on_train_begin`` is included in that starting point.

    When a run is resumed (``start_step > 0``) the working model has moved on, so the copy is
    rebuilt by the loop (:meth:`~xlingual_probe.training.callbacks.LoopContext.starting_model`:
    seed the RNGs with the run's seed, load ``config.model``, re-initialise, add NoisyTune's noise)
    under a saved-and-restored RNG state, so the training stream is untouched (``test_cka_probe``
    checks that it equals the fresh run's starting point); weight changes made by other callbacks
    at ``on_train_begin`` are *not* repeated on resume.

RNG:
    The probe consumes no random numbers: both forward passes run in eval mode (no dropout) and the
    copy is made with ``copy.deepcopy``, so a run with the probe has the same losses as one without.

Distributed runs:
    Only the main process keeps the copy and probes, on its own share of the batch; it calls the
    *unwrapped* model, so no collective operation (DDP buffer broadcast) is started on one process.
"""

from __future__ import annotations

import contextlib
import copy
import random
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from xlingual_probe.probes.cka import layerwise_cka_with_reasons
from xlingual_probe.runs import RunFiles
from xlingual_probe.training.callbacks import Callback, LoopContext
from xlingual_probe.utils.errors import UserError
from xlingual_probe.utils.io import read_json, read_jsonl

__all__ = ["CKAProbe", "CKAProbeConfig", "cka_overhead", "last_cka", "layer_hidden_states", "preserved_rng"]

# batch keys that are targets, not model inputs: dropping them skips the head's loss
_TARGET_KEYS = ("labels", "start_positions", "end_positions")
_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


@dataclass
class CKAProbeConfig:
    """Options of the CKA probe (``xprobe probe cka --cka-*``), recorded in ``config.json``.

    Attributes:
        every: probe every this many updates; ``None`` = the run's ``eval_every``.
        pooling: ``tokens`` (every token under the attention mask is a row) or ``mean``
            (mask-weighted mean-pooled sentences are the rows).
        debiased: use the unbiased HSIC estimator; ``None`` (default) = SPEC's choice per pooling:
            debiased for ``mean`` (a few dozen sentences against hundreds of dimensions, where the
            biased estimator gives 0.92–0.96 even for independent features), biased for ``tokens``
            (thousands of rows). The resolved value is what ``config.json`` and ``cka.jsonl`` record.
        device: where the frozen copy lives and runs, e.g. ``cpu`` or ``cuda:1``; ``None`` = the
            training device.
        dtype: ``fp32`` or ``bf16`` weights for the frozen copy (bf16 halves its memory; its hidden
            states are then bf16-rounded, which lowers CKA slightly).
    """

    every: int | None = None
    pooling: str = "tokens"
    debiased: bool | None = None
    device: str | None = None
    dtype: str = "fp32"

    def __post_init__(self) -> None:
        if self.every is not None and self.every <= 0:
            raise UserError("--cka-every must be positive")
        if self.pooling not in ("tokens", "mean"):
            raise UserError(f"--cka-pooling must be 'tokens' or 'mean', not {self.pooling!r}")
        if self.debiased is None:
            self.debiased = self.pooling == "mean"
        if self.dtype not in _DTYPES:
            raise UserError(f"--cka-dtype must be 'fp32' or 'bf16', not {self.dtype!r}")
        if self.device is not None:
            try:
                torch.device(self.device)
            except RuntimeError:
                raise UserError(f"--cka-device: cannot read device {self.device!r} (e.g. cpu, cuda, cuda:1)") from None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@contextlib.contextmanager
def preserved_rng() -> Iterator[None]:
    """Restore the python, numpy, torch and CUDA RNG states on exit (the training stream is kept)."""
    states = (random.getstate(), np.random.get_state(), torch.get_rng_state(),
              torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None)
    try:
        yield
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.set_rng_state(states[2])
        if states[3] is not None:
            torch.cuda.set_rng_state_all(states[3])


def _frozen_copy(model: torch.nn.Module) -> torch.nn.Module:
    copied = copy.deepcopy(model)
    # Accelerate's mixed precision replaces `forward` on the instance by an autocast wrapper around
    # the *original* model's bound method; a deep copy would keep calling the original
    for attr in ("forward", "_original_forward"):
        copied.__dict__.pop(attr, None)
    return copied


def layer_hidden_states(outputs: Any, num_layers: int, which: str) -> tuple[torch.Tensor, ...]:
    """The output of each transformer layer (bottom first; the embedding output left out) of a model
    called with ``output_hidden_states=True``.

    Raises:
        UserError: the outputs hold no hidden states, or not one per layer plus the embeddings.
    """
    hidden = getattr(outputs, "hidden_states", None)
    if hidden is None:
        raise UserError(f"the {which} model returned no hidden states (output_hidden_states=True); "
                        "the probe needs them")
    if len(hidden) != num_layers + 1:
        raise UserError(f"the {which} model returned {len(hidden)} hidden states for {num_layers} layers "
                        f"(expected embeddings + one per layer)")
    return tuple(hidden[1:])


class CKAProbe(Callback):
    """Per-layer linear CKA between the working model and its starting point, written to ``cka.jsonl``.

    Args:
        config: the probe's options (default: every ``eval_every`` updates, tokens, fp32, same device).

    Attributes:
        total_seconds: the probe's wall time in this invocation (copy/reload excluded).
        setup_seconds: time spent making or reloading the frozen copy.
        probes: number of probe steps in this invocation.

    >>> probe = CKAProbe(CKAProbeConfig(every=50, pooling="mean"))
    >>> probe.config.every, probe.config.pooling, probe.config.debiased
    (50, 'mean', True)
    """

    def __init__(self, config: CKAProbeConfig | None = None):
        self.config = config or CKAProbeConfig()
        self.reference: torch.nn.Module | None = None
        self.every = self.config.every
        self.device: torch.device | None = None
        self.total_seconds = self.setup_seconds = 0.0
        self.probes = 0

    def on_train_begin(self, ctx: LoopContext, start_step: int) -> None:
        self.every = self.config.every or ctx.config.eval_every
        self.total_seconds, self.probes, self.reference = 0.0, 0, None
        if not ctx.accelerator.is_main_process:
            return
        start = time.perf_counter()
        self.device = torch.device(self.config.device) if self.config.device else ctx.accelerator.device
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise UserError(f"--cka-device {self.config.device}: no CUDA device is available")
        working = ctx.accelerator.unwrap_model(ctx.model)
        if start_step == 0:
            reference = _frozen_copy(working)
        else:  # the loop has already dropped the records past the checkpoint
            with preserved_rng():
                reference = ctx.starting_model()
        reference.requires_grad_(False)
        self.reference = reference.to(device=self.device, dtype=_DTYPES[self.config.dtype]).eval()
        self.setup_seconds = time.perf_counter() - start

    @torch.inference_mode()
    def on_step_end(self, ctx: LoopContext, step: int, loss: float, batch: dict[str, torch.Tensor]) -> None:
        if self.reference is None or step % self.every:
            return
        start = time.perf_counter()
        inputs = {k: v for k, v in batch.items() if k not in _TARGET_KEYS}
        num_layers = len(ctx.model_map.layers)
        working = ctx.accelerator.unwrap_model(ctx.model)
        was_training = working.training
        working.eval()  # no dropout: the probe draws no random numbers
        try:
            with ctx.accelerator.autocast():
                hidden_w = layer_hidden_states(working(**inputs, output_hidden_states=True), num_layers, "working")
        finally:
            working.train(was_training)
        ref_inputs = {k: v.to(self.device) for k, v in inputs.items()}
        hidden_r = layer_hidden_states(self.reference(**ref_inputs, output_hidden_states=True), num_layers, "frozen")
        mask = inputs.get("attention_mask")
        values = layerwise_cka_with_reasons(hidden_w, hidden_r, mask, pooling=self.config.pooling,
                                            debiased=bool(self.config.debiased))
        del hidden_w, hidden_r
        if self.config.pooling == "mean":
            n = int(inputs["input_ids"].shape[0])
        else:
            n = int((mask != 0).sum()) if mask is not None else int(inputs["input_ids"].numel())
        seconds = time.perf_counter() - start
        self.total_seconds += seconds
        self.probes += 1
        for layer, (value, reason) in enumerate(values):
            record = {"step": step, "layer": layer, "cka": value, "pooling": self.config.pooling,
                      "debiased": self.config.debiased, "n": n, "cka_seconds": seconds}
            ctx.writer.append("cka", record if reason is None else {**record, "cka_undefined": reason})

    def on_train_end(self, ctx: LoopContext, summary: dict[str, Any]) -> None:
        self.reference = None  # free the copy's memory


def last_cka(run_dir: str | Path) -> dict[int, float | None]:
    """``{layer: cka}`` of the last probe step in ``run_dir/cka.jsonl`` (empty when there is none)."""
    path = RunFiles(run_dir).cka
    records = read_jsonl(path) if path.is_file() else []
    if not records:
        return {}
    last = max(r["step"] for r in records)
    return {r["layer"]: r["cka"] for r in records if r["step"] == last}


def cka_overhead(run_dir: str | Path) -> dict[str, float | int | None]:
    """The probe's total time against the run's training time (from ``cka.jsonl`` and ``summary.json``).

    Returns:
        ``probe_steps``, ``cka_seconds`` (sum over probe steps), ``seconds_per_probe``,
        ``train_seconds`` (``None`` for an unfinished run) and ``fraction`` = cka / train seconds.
    """
    files = RunFiles(run_dir)
    records = read_jsonl(files.cka) if files.cka.is_file() else []
    per_step = {r["step"]: r.get("cka_seconds") or 0.0 for r in records}
    total = float(sum(per_step.values()))
    train_seconds = read_json(files.summary).get("train_seconds") if files.is_finished() else None
    return {"probe_steps": len(per_step), "cka_seconds": total,
            "seconds_per_probe": total / len(per_step) if per_step else None,
            "train_seconds": train_seconds,
            "fraction": total / train_seconds if train_seconds else None}
