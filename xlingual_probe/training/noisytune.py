"""NoisyTune (Wu et al., ACL 2022): perturb the pre-trained weights before fine-tuning.

Context:
    NoisyTune is one of the paper's baselines. Pre-trained models can overfit the pre-training
    objective; adding a little matrix-wise noise, scaled to each parameter's own spread, before
    fine-tuning helps the model explore and slightly improves downstream results.

Method:
    For every pre-trained parameter θ (in ``model.named_parameters()`` order)

        θ ← θ + U(−λ/2, λ/2) · std(θ),    λ = 0.15 by default,

    with fresh uniform noise per element and ``std`` the (unbiased) standard deviation of all of
    θ's elements, exactly as NoisyTune's reference code ``(torch.rand(size) - 0.5) * λ * std(θ)``.
    "Matrix" means every parameter tensor with more than one element — biases and LayerNorm
    vectors included, since the reference code perturbs every parameter. Skipped:

    * parameters that are not pre-trained (``exclude``). "Pre-trained" is decided by what the
      checkpoint actually held, not by where a parameter sits in the model: the training loop
      excludes the parameters the loader reports as newly initialised
      (:attr:`~xlingual_probe.models.LoadedModel.new_parameters`: the task head; a pooler the
      checkpoint lacks, as multilingual-e5's) and the units it re-initialised before the noise. A
      pooler that *was* loaded (mBERT's, XLM-R's) and XLM-R XL's final ``encoder.LayerNorm`` are
      pre-trained and get noise, as in the paper's "every pre-trained parameter matrix", although the
      model map counts them as head;
    * tensors with a single element (no standard deviation) or non-floating dtypes;
    * constant tensors (all elements equal, so std = 0: e.g. LayerNorm biases still at 0 or
      weights at 1): their noise would be zero anyway, and skipping them keeps them bit-identical.

    Tied parameters (e.g. input and output embeddings) appear once in ``named_parameters`` and
    are perturbed once. Noise is drawn in float32 (float64 for float64 parameters) on the
    generator's device, so a CPU generator with a fixed seed gives the same noise on any device.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

__all__ = ["apply_noisytune"]


def _excluded(name: str, exclude: tuple[str, ...]) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in exclude)


@torch.no_grad()
def apply_noisytune(
    model: torch.nn.Module,
    exclude: Iterable[str],
    lam: float = 0.15,
    generator: torch.Generator | None = None,
) -> list[str]:
    """Add NoisyTune's uniform, std-scaled noise to every pre-trained parameter, in place.

    Args:
        model: the model about to be fine-tuned (changed in place).
        exclude: the parameters that are not pre-trained, as parameter names or module prefixes
            (``classifier`` excludes ``classifier.dense.weight`` etc.). Each must match at least one
            parameter.
        lam: the noise intensity λ (≥ 0).
        generator: source of the noise; ``None`` uses torch's global RNG on each parameter's device.

    Returns:
        The names of the parameters perturbed, in ``named_parameters`` order.

    Raises:
        ValueError: a negative or non-finite ``lam``, an ``exclude`` entry that matches no parameter,
            or a parameter holding NaN/inf.

    >>> model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4), torch.nn.Linear(4, 2))
    >>> apply_noisytune(model, exclude=["2"], generator=torch.Generator().manual_seed(0))
    ['0.weight', '0.bias']
    """
    lam = float(lam)
    if not math.isfinite(lam) or lam < 0:
        raise ValueError(f"NoisyTune lambda must be a finite number >= 0; got {lam!r}")
    skip = (exclude,) if isinstance(exclude, str) else tuple(exclude)
    named = list(model.named_parameters())
    unmatched = [prefix for prefix in skip if not any(_excluded(name, (prefix,)) for name, _ in named)]
    if unmatched:
        raise ValueError(f"excluded name(s) {unmatched} match no parameter of the model")

    # measure every tensor first so a bad one (NaN/inf) raises before anything is changed
    plan: list[tuple[str, torch.nn.Parameter, torch.dtype, torch.Tensor]] = []
    for name, param in named:
        if _excluded(name, skip) or param.numel() < 2 or not param.is_floating_point():
            continue
        work_dtype = torch.float64 if param.dtype == torch.float64 else torch.float32
        values = param.detach().to(work_dtype)
        # test constancy exactly: the std of equal float32 values can come out as ~1e-8, not 0
        if bool((values == values.reshape(-1)[0]).all()):
            continue
        std = values.std()
        if not torch.isfinite(std):
            raise ValueError(f"parameter {name} holds NaN or inf values")
        plan.append((name, param, work_dtype, std))

    for name, param, work_dtype, std in plan:
        device = generator.device if generator is not None else param.device
        noise = torch.rand(param.shape, generator=generator, device=device, dtype=work_dtype) - 0.5
        param.copy_((param.detach().to(work_dtype) + noise.to(param.device) * (lam * std)).to(param.dtype))
    return [name for name, *_ in plan]
