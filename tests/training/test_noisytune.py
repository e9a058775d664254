"""NoisyTune: the noise's range and moments, what is skipped, and determinism."""

from __future__ import annotations

import copy

import pytest
import torch

from xlingual_probe.training.noisytune import apply_noisytune


class Toy(torch.nn.Module):
    """A tiny encoder-plus-head: a large matrix, a LayerNorm, a frozen constant and a head."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.body = torch.nn.Linear(300, 200)
        self.norm = torch.nn.LayerNorm(200)  # weight = 1, bias = 0: both constant
        self.scale = torch.nn.Parameter(torch.tensor([2.5]))  # one element: no std
        self.constant = torch.nn.Parameter(torch.full((4, 4), 0.3))
        self.classifier = torch.nn.Sequential(torch.nn.Linear(200, 50), torch.nn.Linear(50, 3))
        self.register_buffer("position_ids", torch.arange(10))


def perturb(model: torch.nn.Module, lam: float = 0.15, seed: int = 0) -> list[str]:
    return apply_noisytune(model, ["classifier"], lam=lam, generator=torch.Generator().manual_seed(seed))


def test_noise_is_uniform_scaled_by_std():
    lam = 0.15
    model = Toy()
    before = model.body.weight.detach().clone()
    std = before.std()
    perturb(model, lam)
    relative = (model.body.weight.detach() - before) / std
    n = relative.numel()
    assert relative.abs().max() <= lam / 2 + 1e-5
    assert relative.abs().max() > 0.99 * lam / 2  # the whole range is used
    # U(-λ/2, λ/2): mean 0, variance λ²/12; tolerances are ~4 standard errors
    assert abs(relative.mean().item()) < 4 * lam / 12**0.5 / n**0.5
    assert relative.var().item() == pytest.approx(lam**2 / 12, rel=0.02)


def test_bias_vector_is_perturbed_within_range():
    model = Toy()
    before = model.body.bias.detach().clone()
    perturb(model)
    relative = (model.body.bias.detach() - before) / before.std()
    assert relative.abs().max() <= 0.075 + 1e-5
    assert relative.abs().min() >= 0 and not torch.equal(model.body.bias, before)


def test_returns_perturbed_names_and_skips_head_constants_and_scalars():
    model = Toy()
    untouched = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("body.")}
    names = perturb(model)
    assert names == ["body.weight", "body.bias"]
    for key, value in model.state_dict().items():
        if key in untouched:
            assert torch.equal(value, untouched[key]), key


def test_deterministic_given_the_seed():
    a, b, c = Toy(), Toy(), Toy()
    perturb(a, seed=3)
    perturb(b, seed=3)
    perturb(c, seed=4)
    assert torch.equal(a.body.weight, b.body.weight)
    assert not torch.equal(a.body.weight, c.body.weight)


def test_lambda_zero_changes_nothing():
    model = Toy()
    before = copy.deepcopy(model.state_dict())
    perturb(model, lam=0.0)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_head_given_as_exact_parameter_names():
    model = Toy()
    head = [name for name, _ in model.named_parameters() if name.startswith("classifier.")]
    names = apply_noisytune(model, head, generator=torch.Generator().manual_seed(0))
    assert names == ["body.weight", "body.bias"]


def test_without_head_everything_nonconstant_is_perturbed():
    model = Toy()
    names = apply_noisytune(model, [], generator=torch.Generator().manual_seed(0))
    assert names == ["body.weight", "body.bias"] + [
        f"classifier.{i}.{p}" for i in (0, 1) for p in ("weight", "bias")
    ]


def test_tied_parameters_are_perturbed_once():
    torch.manual_seed(0)
    emb = torch.nn.Embedding(100, 16)
    out = torch.nn.Linear(16, 100, bias=False)
    out.weight = emb.weight
    model = torch.nn.ModuleDict({"emb": emb, "out": out})
    before = emb.weight.detach().clone()
    assert apply_noisytune(model, [], lam=0.15, generator=torch.Generator().manual_seed(0)) == ["emb.weight"]
    assert ((emb.weight - before) / before.std()).abs().max() <= 0.075 + 1e-5


def test_low_precision_parameters():
    torch.manual_seed(0)
    model = torch.nn.Linear(64, 64).to(torch.bfloat16)
    before = model.weight.detach().float().clone()
    assert apply_noisytune(model, [], generator=torch.Generator().manual_seed(0)) == ["weight", "bias"]
    assert model.weight.dtype == torch.bfloat16
    relative = (model.weight.float() - before) / before.std()
    assert relative.abs().max() <= 0.075 + 0.02  # bf16 rounding of the result


def test_errors():
    with pytest.raises(ValueError, match="lambda"):
        perturb(Toy(), lam=-0.1)
    with pytest.raises(ValueError, match="match no parameter"):
        apply_noisytune(Toy(), ["pooler"])
    with pytest.raises(ValueError, match="match no parameter"):
        apply_noisytune(Toy(), ["classifier.0.weigh"])


def test_non_finite_parameter_raises():
    model = torch.nn.Linear(3, 3)
    with torch.no_grad():
        model.bias[0] = float("nan")
    weight_before = model.weight.detach().clone()
    with pytest.raises(ValueError, match="bias holds NaN"):
        apply_noisytune(model, [])
    assert torch.equal(model.weight, weight_before)  # nothing was changed before the error
