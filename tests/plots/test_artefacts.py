"""Every paper figure and table from fixture run directories with known numbers (no training): the series and
values read back from the figure objects and tables equal the hand-computed ones."""

from __future__ import annotations

import csv
import io
import shutil

import numpy as np
import pytest
from scipy import stats

from tests.plots.conftest import GAIN, SEEDS
from tests.plots.fixtures import UPDATES, loss_at, scores, write_comparison, write_run
from tests.plots.latex_check import latex_problems
from xlingual_probe.plots._scores import ScoreSource
from xlingual_probe.plots.artefacts import ARTEFACTS, build_artefacts, marked_layers
from xlingual_probe.utils.errors import UserError

ALL = ["fig1-gap-methods", "fig2-loss-gap", "fig3-layers", "fig-table1-groups", "fig4-last-k", "fig6-cka-lines",
       "fig6-cka-heatmap", "fig7-languages", "fig-policy-k", "fig-language-gains", "table1-groups", "table2-methods",
       "table4-source-target", "table5-ablation", "table6-reinit-groups", "table7-languages-panx",
       "table7-languages-xnli", "table8-swaps"]


@pytest.fixture(scope="module")
def built(paper_root):
    result = build_artefacts([paper_root])
    return {o.name: o for o in result.outputs}, result


def axes_by_title(fig):
    return {ax.get_title().split("\n")[0]: ax for ax in fig.axes if ax.get_visible() and ax.get_title()}


def line(ax, label):
    (found,) = [x for x in ax.get_lines() if x.get_label() == label]
    return found


def csv_cells(output):
    return {(r["row"], r["column"]): r for r in csv.DictReader(io.StringIO(output.table.to_csv()))}


def test_every_artefact_is_drawn_and_registered(built):
    outputs, result = built
    assert sorted(outputs) == sorted(ALL) and result.skipped == []
    assert {a.split("-languages")[0] for a in ALL} - {n.split("-languages")[0] for n in ARTEFACTS} == set()


def test_fig1_gap_per_method(built):
    axes = axes_by_title(built[0]["fig1-gap-methods"].figure)
    assert set(axes) == {"xnli", "panx"}
    xnli = axes["xnli"]
    assert line(xnli, "DF").get_xydata().tolist() == [[100, 20.0], [200, 17.5], [300, 15.0]]
    assert line(xnli, "FS").get_ydata() == pytest.approx([20.05, 17.55, 15.05])  # gap 15.25 − 0.1 k, mean k = 2
    assert line(xnli, "slow-and-fast").get_ydata() == pytest.approx([18.0, 15.5, 13.0])  # 13.5 − d_k
    # the ± std band of slow-and-fast: the std over seeds of d_k is 0.5
    (band,) = [c for c in xnli.collections if c.get_gid() == "band:slow-and-fast"]
    at_300 = [y for x, y in band.get_paths()[0].vertices if x == 300]
    assert min(at_300) == pytest.approx(12.5) and max(at_300) == pytest.approx(13.5)


def first_phase2(seed: int, window: int = 100, threshold: float = 0.1) -> int:
    """SPEC Eq. 1 written out: the first t ≥ 2w with mean(L_{t−2w+1..t−w}) − mean(L_{t−w+1..t}) ≤ threshold."""
    losses = [loss_at(t, seed) for t in range(1, UPDATES + 1)]
    for t in range(2 * window, UPDATES + 1):
        prev = sum(losses[t - 2 * window:t - window]) / window
        recent = sum(losses[t - window:t]) / window
        if prev - recent <= threshold:
            return t
    raise AssertionError("no phase 2")


def test_fig2_loss_gap_and_phase2_start(built):
    fig = built[0]["fig2-loss-gap"].figure
    marks = [x for ax in fig.axes for x in ax.get_lines() if x.get_gid() == "phase2"]
    expected = np.mean([first_phase2(k) for k in SEEDS])
    xnli_marks = [m for m in marks if m.axes.get_subplotspec().colspan.start == 1]
    assert len(marks) == 4 and xnli_marks[0].get_xdata()[0] == pytest.approx(expected)
    loss_ax = fig.axes[1]  # xnli's loss panel (second column, first row)
    mean_loss = np.mean([[np.mean([loss_at(s, k) for s in range(step - 99, step + 1)]) for step in (100, 200, 300)]
                         for k in SEEDS], axis=0)
    assert line(loss_ax, "DF").get_ydata() == pytest.approx(mean_loss)


def test_fig3_layers_marks_from_selection_evidence(built):
    fig = built[0]["fig3-layers"].figure
    reinit, freeze = (axes_by_title(fig)[f"xnli: {k} (n = 2 seeds)"] for k in ("re-initialise layer ℓ", "freeze layer ℓ"))
    assert line(reinit, "re-initialise layer ℓ").get_ydata() == pytest.approx([68.5, 68.45, 71.5])
    assert line(freeze, "freeze layer ℓ").get_ydata()[0] == pytest.approx(72.15)
    stars = {ax: [x for x in ax.get_lines() if x.get_gid() == "marked"] for ax in (reinit, freeze)}
    assert stars[reinit][0].get_xdata().tolist() == [0, 1]  # "in S_I" decisions
    assert stars[freeze][0].get_xdata().tolist() == [0]  # p_holm 0.01 < 0.05; 0.2 is not
    assert line(reinit, "DF").get_ydata() == pytest.approx([71.5, 71.5])
    assert "selection.json" in built[0]["fig3-layers"].caption


def test_marked_layers_reads_evidence_defensively():
    assert marked_layers({"evidence": {"S_I": [{"unit": "3", "significant": True}, {"unit": "4", "significant": False,
                                                                                      "p_holm": 0.001}]}}, "reinit") \
        == ({"3"}, "significant for S_I (selection.json)")
    assert marked_layers({"evidence": {"S_II": {"rows": [{"unit": "1", "p_adjusted": 0.04}]}}}, "freeze")[0] == {"1"}
    assert marked_layers({"evidence": {}}, "reinit") is None


def test_fig_table1_groups_bars_are_paired_differences(built):
    fig = built[0]["fig-table1-groups"].figure
    (ax,) = [a for a in fig.axes if a.get_visible()]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    widths = dict(zip(labels, [p.get_width() for p in ax.patches]))
    assert widths["fine-tune last 1 layer"] == pytest.approx(-1.0)
    assert widths["freeze bottom1 ffn"] == pytest.approx(0.5)  # (1/3 + 2/3) / 2
    assert widths["×10 lr, top1 ffn"] == pytest.approx(-1 / 3)


def test_fig4_last_k_series(built):
    ax = axes_by_title(built[0]["fig4-last-k"].figure)["xnli"]
    assert [x.get_label() for x in ax.get_lines()] == ["DF (baseline)", "fine-tune last 1 layer",
                                                       "fine-tune last 2 layers"]
    # last 1: en 77 + k, de 69 + k, sw 61 + k: gap 12 on both seeds
    assert line(ax, "fine-tune last 1 layer").get_ydata()[-1] == pytest.approx(12.0)


def test_fig6_cka_lines_and_heatmap(built):
    lines = axes_by_title(built[0]["fig6-cka-lines"].figure)["xnli (n=3 seeds)"]
    expected = [[1 - s * (layer + 1) / 2000 - 0.02 for s in (100, 200, 300)] for layer in range(3)]
    for layer in range(3):
        assert line(lines, f"layer {layer}").get_ydata() == pytest.approx(expected[layer])
    heat = axes_by_title(built[0]["fig6-cka-heatmap"].figure)["xnli"]
    assert np.asarray(heat.images[0].get_array()) == pytest.approx(np.array(expected))  # rows: layers 0..2


def test_fig7_languages_ordered_by_final_score(built):
    ax = axes_by_title(built[0]["fig7-languages"].figure)["xnli (mean over 3 seeds; legend: final score)"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["en (source) 82.0", "de 72.0", "sw 62.0"]
    assert line(ax, "de 72.0").get_ydata() == pytest.approx([62.0, 67.0, 72.0])


def test_policy_figure_shows_k_and_phase(built):
    fig = built[0]["fig-policy-k"].figure
    axes = axes_by_title(fig)
    assert next(iter(axes)) == "panx: slow-and-fast (seed 1)"
    k_ax = next(a for a in fig.axes if a.get_ylabel() == "multiplier K")
    s1 = line(k_ax, "S_I")
    assert s1.get_ydata()[0] == 0.01 and s1.get_ydata()[-1] == 1.0
    assert line(k_ax, "V_II").get_ydata()[-1] == 10.0
    spans = [p for p in k_ax.patches if p.get_gid() == "phase2"]
    assert len(spans) == 1 and spans[0].get_x() == pytest.approx(199.5)


def test_forest_plot_gains(built):
    fig = built[0]["fig-language-gains"].figure
    ax = axes_by_title(fig)["xnli"]
    rows = [t.get_text() for t in ax.get_yticklabels()]
    assert rows == ["en", "de", "sw", "target mean", "overall"]  # source first, then alphabetical, summaries
    points = line(ax, "slow-and-fast").get_xdata()
    assert points == pytest.approx([1.0, 2.5, 3.5, 3.0, 7 / 3])
    fs = line(ax, "FS").get_xdata()
    assert fs == pytest.approx([0.5, 0.5, 0.4, 0.45, (0.5 + 0.5 + 0.4) / 3])


def test_table2_values_and_bold(built):
    out = built[0]["table2-methods"]
    cells = csv_cells(out)
    assert out.table.columns == ["panx M = 0", "xnli M = 0", "xnli M = 5"]
    assert float(cells[("slow-and-fast", "xnli M = 0")]["mean"]) == pytest.approx(74 + 1 / 3)
    assert float(cells[("FS", "xnli M = 0")]["mean"]) == pytest.approx(72 + 7 / 15)
    assert float(cells[("DF", "xnli M = 5")]["mean"]) == pytest.approx(75.0)
    assert ("FS", "panx M = 0") not in cells  # FS ran on xnli only
    sf = [np.mean(list(v.values())) for v in ({"en": 81 + k, "de": 72 + k + GAIN[k], "sw": 63 + k + GAIN[k]}
                                               for k in SEEDS)]
    fs = [np.mean([80.5 + k, 70.5 + k, 60 + 1.2 * k]) for k in SEEDS]
    p = stats.ttest_rel(sf, fs).pvalue
    assert float(cells[("slow-and-fast", "xnli M = 0")]["p"]) == pytest.approx(p)
    assert cells[("slow-and-fast", "xnli M = 0")]["runner_up"] == "FS"
    assert latex_problems(out.table.to_latex(), columns=3) == []
    caption = out.caption
    assert "seeds 1, 2, 3" in caption and "best evaluation" in caption and "dev split" in caption
    assert "mean over all languages' dev sets" in caption and "Holm" in out.table.bold_rule()


def test_table4_source_target_with_deltas(built):
    cells = csv_cells(built[0]["table4-source-target"])
    assert float(cells[("slow-and-fast", "xnli non-source")]["mean"]) == pytest.approx(70.0)
    assert float(cells[("slow-and-fast", "xnli non-source")]["delta"]) == pytest.approx(3.0)
    assert float(cells[("slow-and-fast", "xnli source")]["delta"]) == pytest.approx(1.0)
    assert cells[("DF", "xnli source")]["delta"] == ""


def test_table5_ablation_rows(built):
    out = built[0]["table5-ablation"]
    assert out.table.rows == ["c1 = 0.01", "c1 = 0.5"]
    cells = csv_cells(out)
    assert float(cells[("c1 = 0.5", "xnli")]["mean"]) == pytest.approx(73.0)
    assert float(cells[("c1 = 0.01", "xnli")]["mean"]) == pytest.approx(74 + 1 / 3)
    assert "c1 = 0.01, c2 = 10, r = 3" in out.caption


def test_table1_and_table6_from_the_sweep(built):
    t1 = csv_cells(built[0]["table1-groups"])
    assert list(built[0]["table1-groups"].table.rows)[:3] == ["DF (baseline)", "fine-tune last 1 layer",
                                                             "fine-tune last 2 layers"]
    assert float(t1[("freeze bottom1 ffn", "xnli")]["mean"]) == pytest.approx(72.0)
    assert float(t1[("×10 lr, top1 attention", "xnli")]["mean"]) == pytest.approx(71.5 - 0.4 / 3)
    assert t1[("freeze bottom1 ffn", "xnli")]["bold"] == "0"  # vs attention: p = 0.20 with 2 seeds
    t6 = csv_cells(built[0]["table6-reinit-groups"])
    assert float(t6[("re-init bottom1 (whole layers)", "xnli")]["mean"]) == pytest.approx(61.4)


def test_table7_and_table8(built):
    t7 = csv_cells(built[0]["table7-languages-xnli"])
    assert float(t7[("slow-and-fast", "sw")]["mean"]) == pytest.approx(65.5)
    assert float(t7[("FS", "sw")]["mean"]) == pytest.approx(62.4)
    t8 = csv_cells(built[0]["table8-swaps"])
    assert float(t8[("slow-and-fast (swap-S)", "xnli")]["mean"]) == pytest.approx(70 + 2 / 3 + 2 * 3.2 / 3)


def test_legends_never_cover_data(built):
    for name, output in built[0].items():
        if output.figure is None:
            continue
        fig = output.figure
        renderer = fig.canvas.get_renderer()
        fig.draw_without_rendering()
        legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
        assert legends or name.startswith("fig6"), name  # the CKA figures have a colour bar instead
        for legend in legends:
            box = legend.get_window_extent(renderer)
            for ax in fig.axes:
                if ax.get_visible() and ax.get_label() != "<colorbar>":
                    assert not box.overlaps(ax.get_window_extent(renderer)), (name, ax.get_title())


def test_axis_labels_have_units_and_sizes_fit_a_column(built):
    for name, output in built[0].items():
        if output.figure is None:
            continue
        assert output.figure.get_figwidth() in (3.3, 6.9), name
        for ax in output.figure.axes:
            if ax.get_visible() and ax.get_xlabel() and ax.get_label() != "<colorbar>":
                assert "(" in ax.get_xlabel(), (name, ax.get_xlabel())


def test_files_are_png_pdf_svg_csv_md_tex(paper_root, tmp_path):
    result = build_artefacts([paper_root], tmp_path, only=["fig7-languages", "table8-swaps"])
    names = sorted(p.name for o in result.outputs for p in o.files)
    assert names == ["fig7-languages.pdf", "fig7-languages.png", "fig7-languages.svg", "table8-swaps.csv",
                     "table8-swaps.md", "table8-swaps.tex"]
    assert (tmp_path / "fig7-languages.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "fig7-languages.pdf").read_bytes()[:4] == b"%PDF"
    assert b"<svg" in (tmp_path / "fig7-languages.svg").read_bytes()[:400]


def test_what_cannot_be_drawn_is_skipped_with_the_reason(tmp_path):
    write_run(tmp_path / "df", final=scores(80, 70, 60))
    result = build_artefacts([tmp_path])
    skipped = dict(result.skipped)
    assert {o.name for o in result.outputs} == {"fig2-loss-gap", "fig7-languages"}
    assert "xprobe compare" in skipped["fig1-gap-methods"]
    assert "xprobe probe layers" in skipped["fig3-layers"] and "xprobe probe cka" in skipped["fig6-cka-lines"]
    assert "two methods" in skipped["table2-methods"]


def test_score_source_final_and_test_records(tmp_path):
    best = {"best": {"step": 100, "metrics": scores(90, 80, 70), "source": 90, "target_mean": 75, "overall": 80,
                     "gap": 15}}
    for seed in (1, 2):
        write_run(tmp_path / f"df-{seed}", final=scores(80 + seed, 70, 60), seed=seed, summary=best)
        test = {"test": {"best": {"metrics": scores(50, 40, 30), "source": 50, "target_mean": 35, "overall": 40 + seed,
                                  "gap": 15}}}
        write_run(tmp_path / f"sf-{seed}", final=scores(82, 70, 60), seed=seed, method="slowfast", summary=test)

    def means(name):
        (output,) = build_artefacts([tmp_path], only=["table2-methods"], score=ScoreSource.parse(name)).outputs
        return {k: float(v["mean"]) for k, v in csv_cells(output).items()}

    assert means("best")[("DF", "xnli M = 0")] == 80.0  # the summary's best record
    assert means("final")[("DF", "xnli M = 0")] == pytest.approx(70.5)  # (80 + s + 70 + 60) / 3, s = 1, 2
    assert means("test:best") == {("slow-and-fast", "xnli M = 0"): 41.5}  # DF has no test record: n/a
    for seed in (1, 2):  # the same runs without test records
        shutil.rmtree(tmp_path / f"sf-{seed}")
        write_run(tmp_path / f"sf-{seed}", final=scores(82, 70, 60), seed=seed, method="slowfast")
    result = build_artefacts([tmp_path], only=["table2-methods"], score=ScoreSource.parse("test:best"))
    assert result.skipped == [("table2-methods", "no run has a test:best record")]


def test_unknown_names_and_empty_inputs_are_user_errors(tmp_path, paper_root):
    with pytest.raises(UserError, match="unknown figure/table"):
        build_artefacts([paper_root], only=["fig99"])
    with pytest.raises(UserError, match="no run directories"):
        build_artefacts([tmp_path])
    with pytest.raises(UserError, match="score record"):
        ScoreSource.parse("test:worst")


def test_comparison_directory_moved_after_the_runs(tmp_path):
    root = write_comparison(tmp_path / "a", {"direct": {1: scores(80, 70, 60)}, "slowfast": {1: scores(81, 72, 61)}})
    moved = root.rename(tmp_path / "b")
    result = build_artefacts([moved], only=["table2-methods"])
    assert {r for r, _ in csv_cells(result.outputs[0])} == {"DF", "slow-and-fast"}


def test_policy_figure_leaves_out_sets_without_parameters(tmp_path):
    run = write_run(tmp_path / "sf", final=scores(80, 70, 60), method="slowfast", policy_steps=True)
    (run / "param_groups.csv").write_text("group,parameter\nV_I,a\nV_II,b\nV_II/no_decay,c\nrest,d\n", encoding="utf-8")
    (output,) = build_artefacts([tmp_path], only=["fig-policy-k"]).outputs
    k_ax = next(a for a in output.figure.axes if a.get_ylabel() == "multiplier K")
    assert sorted(x.get_label() for x in k_ax.get_lines()) == ["V_I", "V_II"]
    legend = [t.get_text() for t in output.figure.legends[0].get_texts()]
    assert legend[-1] == r"no parameters (not drawn): $S_I \setminus S_{II}$, $S_{II}$"
