"""AdamW with the fastest implementation torch has for the parameters' device.

Context:
    ``torch.optim.AdamW`` picks its single-tensor implementation on CPU: one small loop of kernels per
    parameter. With a 250k-piece vocabulary (XLM-R, multilingual-e5) the embedding matrix alone took
    about a second per update that way on 2 CPU cores, a third of the whole update, while the HF
    ``Trainer``'s default (``adamw_torch_fused``) runs torch's fused kernel, one pass over all
    parameters, on CPU too. :func:`adamw` uses the fused kernel where torch has one for the device
    (CUDA, and CPU since torch 2.4; also MPS, XPU), else the multi-tensor ``foreach`` one, else the
    single-tensor loop.

    All three compute the same update (Loshchilov & Hutter's decoupled weight decay, PyTorch's
    formula) up to the floating-point order of operations, so switching changes a run's numbers in
    the last bits only (``NUMERICS_VERSION`` 2).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

__all__ = ["adamw", "adamw_implementation"]


def _fused_devices() -> set[str]:
    try:
        from torch.optim.optimizer import _get_fused_kernels_supported_devices
    except ImportError:  # older torch: only CUDA had fused kernels
        return {"cuda"}
    return set(_get_fused_kernels_supported_devices())


def adamw_implementation(params: Iterable[torch.Tensor]) -> str:
    """``"fused"``, ``"foreach"`` or ``"single-tensor"``: what :func:`adamw` will use for ``params``.

    Fused needs every parameter to be a floating-point tensor on one device type that has the
    kernel; ``foreach`` needs torch's multi-tensor kernels for that device (CPU and CUDA have them).

    >>> adamw_implementation([torch.zeros(3, requires_grad=True)]) in ("fused", "foreach")
    True
    """
    params = list(params)
    devices = {p.device.type for p in params}
    if len(devices) == 1 and all(p.is_floating_point() for p in params) and devices <= _fused_devices():
        return "fused"
    return "foreach" if len(devices) <= 1 else "single-tensor"


def adamw(groups: list[dict[str, Any]], lr: float, weight_decay: float) -> torch.optim.AdamW:
    """``torch.optim.AdamW`` over parameter ``groups`` with the implementation of
    :func:`adamw_implementation` (betas 0.9/0.999, eps 1e-8: torch's and the Trainer's defaults).

    Args:
        groups: parameter groups (``params`` plus any extra keys, e.g. ``name``, ``set``).
        lr: the initial rate (the loop sets every group's rate before each update).
        weight_decay: decoupled weight decay of groups that do not set their own.
    """
    implementation = adamw_implementation(p for group in groups for p in group["params"])
    flags = {"fused": {"fused": True}, "foreach": {"foreach": True}, "single-tensor": {"foreach": False}}
    return torch.optim.AdamW(groups, lr=lr, weight_decay=weight_decay, **flags[implementation])
