"""``xprobe select``: the rule and its options reach selection.json; options of the other rule are refused."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from xlingual_probe.cli import app
from xlingual_probe.selection import SimulatedSweep, simulate_sweep_results


@pytest.fixture
def sweep(tmp_path):
    effects = {f"reinit-L{layer}": -3.0 for layer in range(10)}
    table = simulate_sweep_results(SimulatedSweep(seeds=3, sigma=0.5, effects=effects), np.random.default_rng(0))
    folder = tmp_path / "sweep"
    folder.mkdir()
    table.to_csv(folder / "results.csv", index=False)
    return folder


def test_paired_rule_is_the_default_and_records_its_options(sweep, tmp_path):
    result = CliRunner().invoke(app, ["select", str(sweep), "--out", str(tmp_path / "sel"), "--alpha", "0.01",
                                      "--min-effect", "1", "--harmless-margin", "1.5", "--min-cka-effect", "0.05"])
    assert result.exit_code == 0, result.output
    saved = json.loads((tmp_path / "sel/selection.json").read_text())
    assert saved["rule"] == "paired" and saved["sets"]["S_I"] == "0-9" and saved["sets"]["V_I"] == "10-11"
    assert {k: saved["options"][k] for k in ("alpha", "min_effect", "harmless_margin", "min_cka_effect")} == {
        "alpha": 0.01, "min_effect": 1.0, "harmless_margin": 1.5, "min_cka_effect": 0.05}
    assert "rule paired, α = 0.01" in result.output and "S_I   0-9" in result.output


def test_delta_rule_keeps_its_options(sweep, tmp_path):
    result = CliRunner().invoke(app, ["select", str(sweep), "--out", str(tmp_path / "sel"), "--rule", "delta",
                                      "--margin-sigmas", "3", "--min-margin", "0.7", "--cka-alpha", "0.1"])
    assert result.exit_code == 0, result.output
    saved = json.loads((tmp_path / "sel/selection.json").read_text())
    assert saved["rule"] == "delta" and saved["options"]["margin_sigmas"] == 3 and saved["options"]["cka_alpha"] == 0.1
    assert saved["margins"]["delta"] == pytest.approx(max(3 * saved["margins"]["sigma"], 0.7))
    assert "rule delta, δ = " in result.output


@pytest.mark.parametrize("args, message", [
    (["--min-margin", "1"], "--min-margin belong(s) to --rule delta"),
    (["--rule", "delta", "--alpha", "0.1"], "--alpha belong(s) to --rule paired"),
    (["--rule", "median"], "--rule must be one of paired, delta"),
    (["--alpha", "1.5"], "--alpha must be in"),
    (["--harmless-margin", "0"], "--harmless-margin must be > 0"),
])
def test_bad_options_are_one_clear_error(sweep, args, message):
    result = CliRunner().invoke(app, ["select", str(sweep), *args])
    assert result.exit_code != 0 and message in str(result.exception)
