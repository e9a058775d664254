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


def changed_by_noise(folder: str, **config_values) -> set[str]:
    """The parameters the loop's NoisyTune changed: the starting model with λ = 0.15 against λ = 0 (same seed)."""
    from xlingual_probe.training import TrainConfig
    from xlingual_probe.training.loop import load_starting_model

    config = TrainConfig(model=folder, task="xnli", out="unused", seed=3, noise_lambda=0.15, **config_values)
    noisy = dict(load_starting_model(config, "sequence", 3)[0].named_parameters())
    plain = dict(load_starting_model(config.replace(noise_lambda=0.0), "sequence", 3)[0].named_parameters())
    return {name for name, param in noisy.items() if not torch.equal(param, plain[name])}


@pytest.mark.parametrize("with_pooler", [True, False])
def test_pretrained_means_loaded_from_the_checkpoint(tmp_path, with_pooler):
    import transformers as T

    from tests.models.models_tiny import family_config, save_checkpoint

    model = T.BertModel(family_config("bert"), add_pooling_layer=with_pooler)
    if with_pooler:  # a trained pooler's bias is not constant (a fresh one, all zeros, would be skipped as such)
        with torch.no_grad():
            model.pooler.dense.bias.normal_()
    changed = changed_by_noise(save_checkpoint(model, tmp_path))
    pooler = {"bert.pooler.dense.weight", "bert.pooler.dense.bias"}
    # a loaded pooler is pre-trained (mBERT: the paper's "every pre-trained matrix"); a missing one is
    # newly initialised (multilingual-e5) and left alone, like the new classifier
    assert (pooler <= changed) if with_pooler else not (pooler & changed)
    assert not changed & {"classifier.weight", "classifier.bias"}
    assert {"bert.embeddings.word_embeddings.weight", "bert.encoder.layer.1.output.dense.weight"} <= changed


def test_reinitialised_units_are_not_pretrained(tmp_path):
    import transformers as T

    from tests.models.models_tiny import family_config, save_checkpoint

    folder = save_checkpoint(T.BertModel(family_config("bert")), tmp_path)
    changed = changed_by_noise(folder, reinit=["0"])
    assert not any(name.startswith("bert.encoder.layer.0.") for name in changed)
    assert any(name.startswith("bert.encoder.layer.1.") for name in changed)


def test_xl_final_layernorm_is_pretrained_although_the_map_calls_it_head(tmp_path):
    import transformers as T

    from tests.models.models_tiny import family_config, save_checkpoint
    from xlingual_probe.models import get_model_map

    model = T.XLMRobertaXLModel(family_config("xlm-roberta-xl"))
    with torch.no_grad():  # a trained LayerNorm is not constant (fresh ones are skipped as constants)
        model.encoder.LayerNorm.weight.uniform_(0.5, 1.5)
    folder = save_checkpoint(model, tmp_path)
    changed = changed_by_noise(folder)
    head = set(get_model_map(T.XLMRobertaXLForSequenceClassification(family_config("xlm-roberta-xl"))).head)
    assert "roberta.encoder.LayerNorm.weight" in head and "roberta.encoder.LayerNorm.weight" in changed
    assert not changed & {name for name in head if name.startswith("classifier.")}
