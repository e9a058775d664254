"""Compare fine-tuning methods on the same data and budget: the paper's Table 2/4, with a paired test.

Context:
    The paper's claim is a difference between methods (slow-and-fast vs DF, NoisyTune, FS, FF) of
    a point or two, over four seeds. Such a difference is only worth reporting next to its noise,
    so besides the mean ± std table this module pairs the runs by seed (same seed = same head
    initialisation and data order) and tests each method's per-seed overall score against DF's.

Method:
    Every method trains with the *same* TrainConfig apart from its own settings (``method``,
    ``noise_lambda`` for NoisyTune, ``slowfast`` for the policy methods), once per seed, into
    ``OUT/<method>/seed-<k>`` with ``train(..., resume=True)``: re-running reuses finished runs and
    resumes unfinished ones. A run whose identity differs from the one in that folder (other options,
    changed data files, another numerics version: :mod:`xlingual_probe.training.identity`) is never
    reused: it runs in ``OUT/<method>/seed-<k>-<key>`` and the log says why. The
    policy methods take their weight sets from one selection resolved once (``paper``, ``auto`` or
    a file; saved as ``OUT/selection.json``). Methods:

        direct            DF, plain fine-tuning (always run: it is the reference)
        noisytune         NoisyTune, λ = ``noise_lambda`` (0.15)
        slow              FS: policies I + II
        fast              FF: policies III + IV
        slowfast          all four policies
        slowfast:<swap>   a Table-8 variant (``only-S_I``, ``only-S_II``, ``swap-S``, ``only-V_I``,
                          ``only-V_II``, ``swap-V``)

    Scores come from each run's ``summary.json`` (``which``, :data:`~xlingual_probe.runs.REPORTED`):
    by default the checkpoint chosen by the runs' ``--select-by`` on the selection halves, scored on
    every language's reporting half (``selected``); or the last evaluation (``final``), or either on the
    labelled test split (``selected-test``, ``final-test``). No table reports the maximum over the data
    it was chosen on, and every header says which checkpoint and which data it reports.
    For each method vs DF: the mean of the per-seed differences of overall performance and
    ``scipy.stats.ttest_rel`` (two-sided) over the seeds both have; "> noise" means p < ``alpha``.
    With fewer than 2 paired seeds the test is "n/a".

Outputs in ``OUT``: ``compare.json`` (the options and run directories), ``comparison.csv`` (per
method: seeds, mean and std of source, target_mean, overall, gap; overall_diff, t, p, significant),
``comparison_languages.csv`` (method, lang, seeds, mean, std), ``comparison.md`` (both tables, and the
runs without a result, which every table leaves out under ``allow_incomplete``) and ``status.txt`` (the executor's progress view).
The tables of ``--which selected`` (the default) have these names; any other ``--which W`` writes
``comparison-W.csv``, ``comparison-W_languages.csv`` and ``comparison-W.md`` beside them, so the dev and
test tables of one comparison (``--which selected`` then ``selected-test``) are both kept.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from xlingual_probe.experiments.executor import Executor, RunJob, SequentialExecutor
from xlingual_probe.experiments.methods import (
    canonical_method,
    method_values,
    needs_sets,
    resolve_sets,
    selection_record,
)
from xlingual_probe.reporting import format_mean_std, markdown_table, protocol_caption
from xlingual_probe.runs import (
    FINISHED,
    REPORTED,
    RESULT_STATUSES,
    RunFiles,
    describe_incomplete,
    differing_keys,
    reported_record,
)
from xlingual_probe.training.config import TrainConfig, check_seeds
from xlingual_probe.training.identity import keyed_run_dir, run_identity
from xlingual_probe.utils.errors import UserError
from xlingual_probe.utils.io import atomic_write_json, atomic_write_text, read_json

__all__ = ["CompareConfig", "ComparisonResult", "compare_methods", "comparison_tables", "paired_tests",
           "parse_methods", "run_scores"]

REFERENCE = "direct"
SCORES = ("source", "target_mean", "overall", "gap")


def parse_methods(text: str | list[str]) -> list[str]:
    """Method names from a comma list, DF first (added when missing), aliases resolved, no repeats.

    >>> parse_methods("slowfast,fs,slowfast:swap-S")
    ['direct', 'slowfast', 'slow', 'slowfast:swap-S']

    Raises:
        UserError: an unknown method or swap (the message lists the valid ones).
    """
    names = [n.strip() for part in ([text] if isinstance(text, str) else text) for n in part.split(",")]
    out = [REFERENCE]
    for name in filter(None, names):
        full = canonical_method(name)
        if full not in out:
            out.append(full)
    return out


@dataclass
class CompareConfig:
    """A comparison of fine-tuning methods.

    Attributes:
        train: TrainConfig values shared by every run (``out``, ``seed``, ``method``, ``noise_lambda``
            and ``slowfast`` are set per run).
        out: the comparison directory.
        seeds: training seeds; every method runs once per seed.
        methods: methods (see the module docstring); DF is added first when missing.
        sets: the weight sets of the policy methods: ``paper``, ``auto`` (run a layer sweep and
            CKA runs in ``OUT/auto`` and select) or a selection file.
        which: the scores reported (:data:`~xlingual_probe.runs.REPORTED`): ``selected`` (the checkpoint
            chosen by ``select_by``, on the reporting halves), ``final``, ``selected-test``,
            ``final-test``; ``best`` is read as ``selected``.
        alpha: significance level of the paired test.
        noise_lambda: NoisyTune's λ.
        policy: slow-and-fast hyper-parameters (``c1``, ``c2``, ``r``, ``window``, ``threshold``,
            ``phase_mode``); missing ones take SPEC's defaults.
        policy_iv: ``auto`` (the selection's decision), ``on`` or ``off`` (the paper's NER setting).
        allow_incomplete: compare even if some runs have no result summary (they are left out);
            by default that is an error.
    """

    train: dict[str, Any]
    out: str
    seeds: list[int] = field(default_factory=lambda: [1, 2, 3, 4])
    methods: list[str] = field(default_factory=lambda: ["direct", "noisytune", "slowfast"])
    sets: str = "paper"
    which: str = "selected"
    alpha: float = 0.05
    noise_lambda: float = 0.15
    policy: dict[str, Any] = field(default_factory=dict)
    policy_iv: str = "auto"
    allow_incomplete: bool = False

    def __post_init__(self) -> None:
        self.methods = parse_methods(self.methods)
        check_seeds(self.seeds)
        self.which = "selected" if self.which == "best" else self.which
        if self.which not in REPORTED:
            raise UserError(f"--which must be one of {', '.join(REPORTED)}, not {self.which!r}")
        if not 0 < self.alpha < 1:
            raise UserError("--alpha must be in (0, 1)")
        if self.noise_lambda <= 0:
            raise UserError("--noise-lambda must be positive")
        if self.policy_iv not in ("auto", "on", "off"):
            raise UserError(f"--policy-iv must be auto, on or off, not {self.policy_iv!r}")


def _policy_iv_text(selection: dict[str, Any], policy_iv: str) -> str:
    if policy_iv == "auto":
        return "on" if selection["policy_iv"] else "off"
    return f"{policy_iv} (--policy-iv)"


@dataclass
class ComparisonResult:
    """What :func:`compare_methods` produced: the tables, the selection used and the files written."""

    table: pd.DataFrame
    languages: pd.DataFrame
    scores: pd.DataFrame
    selection: dict[str, Any] | None
    paths: dict[str, Path]


def method_dir(method: str) -> str:
    """``slowfast:swap-S`` → ``slowfast-swap-S`` (a portable folder name)."""
    return method.replace(":", "-")


def run_scores(run_dirs: dict[str, list[tuple[int, Path]]], which: str = "selected", allow_incomplete: bool = False
               ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-seed scores ``which`` (:func:`~xlingual_probe.runs.reported_record`) of complete runs: (method,
    seed, status, source, target_mean, overall, gap), and per-language scores in long form (method, seed,
    lang, value).

    A diverged run is a row with ``status`` ``diverged`` and no scores (its evaluations before the
    divergence are not the method's result); the paired test then has one pair fewer, and the tables
    say so.

    Raises:
        UserError: a run without a result summary (incomplete, or errored), unless ``allow_incomplete``
            (then it is left out): a paired test must not lose pairs silently; or ``which`` asks for
            test scores a finished run does not have.
    """
    missing = [str(run) for runs in run_dirs.values() for _, run in runs
               if RunFiles(run).status() not in RESULT_STATUSES]
    if missing and not allow_incomplete:
        raise UserError(f"cannot compare with {describe_incomplete(missing)}: the paired test would lose their "
                        "pairs. Run the same command again to finish them, or pass --allow-incomplete to compare "
                        "without them")
    scores, languages = [], []
    for method, runs in run_dirs.items():
        for seed, run in runs:
            files = RunFiles(run)
            status = files.status()
            if status not in RESULT_STATUSES:
                continue
            record = reported_record(read_json(files.summary), which) if status == FINISHED else {"metrics": {}}
            if record is None:
                raise UserError(f"{run} has no test scores (no labelled test split, or --no-score-test): "
                                "use --which selected or final")
            scores.append({"method": method, "seed": seed, "status": status, **{k: record.get(k) for k in SCORES}})
            languages += [{"method": method, "seed": seed, "lang": lang, "value": value}
                          for lang, value in record["metrics"].items()]
    return (pd.DataFrame(scores, columns=["method", "seed", "status", *SCORES]),
            pd.DataFrame(languages, columns=["method", "seed", "lang", "value"]))


def paired_tests(scores: pd.DataFrame, reference: str = REFERENCE, alpha: float = 0.05,
                 column: str = "overall") -> pd.DataFrame:
    """Each method vs ``reference``, paired by seed: pairs, mean difference, t, p (two-sided), significant.

    ``significant`` is ``"yes"`` (p < alpha), ``"no"``, or ``"n/a"`` (fewer than 2 pairs, or the
    reference itself); t and p are NaN then, and also when the differences are all equal (zero variance).

    >>> s = pd.DataFrame({"method": ["direct"] * 3 + ["x"] * 3, "seed": [1, 2, 3] * 2,
    ...                   "overall": [70.0, 71.0, 72.0, 71.0, 73.0, 73.5]})
    >>> row = paired_tests(s).iloc[1]
    >>> int(row["pairs"]), float(row["diff"]), round(float(row["t"]), 4), round(float(row["p"]), 4), row["significant"]
    (3, 1.5, 5.1962, 0.0351, 'yes')
    """
    from scipy import stats

    ref = scores[scores["method"] == reference].set_index("seed")[column]
    rows = []
    for method, group in scores.groupby("method", sort=False):
        row: dict[str, Any] = {"method": method, "pairs": 0, "diff": math.nan, "t": math.nan, "p": math.nan,
                               "significant": "n/a"}
        if method != reference:
            joined = pd.concat([group.set_index("seed")[column].rename("m"), ref.rename("r")], axis=1,
                               join="inner").dropna()
            diffs = joined["m"] - joined["r"]
            row["pairs"] = len(joined)
            row["diff"] = float(diffs.mean()) if len(joined) else math.nan
            if len(joined) >= 2 and diffs.std(ddof=1) > 0:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    test = stats.ttest_rel(joined["m"], joined["r"])
                row["t"], row["p"] = float(test.statistic), float(test.pvalue)
                row["significant"] = "yes" if row["p"] < alpha else "no"
            elif len(joined) >= 2:
                row["significant"] = "no"  # identical differences: no variance to test against
        rows.append(row)
    return pd.DataFrame(rows, columns=["method", "pairs", "diff", "t", "p", "significant"])


def comparison_tables(scores: pd.DataFrame, languages: pd.DataFrame, reference: str = REFERENCE,
                      alpha: float = 0.05) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The main table (one row per method: seeds, diverged (runs among them without a score),
    ``{score}_mean``/``_std``, overall_diff, t, p, significant) and the per-language table (method,
    lang, seeds, mean, std)."""
    tests = paired_tests(scores, reference, alpha).set_index("method")
    rows = []
    for method, group in scores.groupby("method", sort=False):
        diverged = int((group["status"] == "diverged").sum()) if "status" in group else 0
        row: dict[str, Any] = {"method": method, "seeds": len(group), "diverged": diverged}
        for score in SCORES:
            values = pd.to_numeric(group[score], errors="coerce").dropna()
            row[f"{score}_mean"] = values.mean() if len(values) else math.nan
            row[f"{score}_std"] = values.std(ddof=1) if len(values) > 1 else math.nan
        test = tests.loc[method]
        row.update({"overall_diff": test["diff"], "pairs": test["pairs"], "t": test["t"], "p": test["p"],
                    "significant": test["significant"]})
        rows.append(row)
    lang_rows = []
    for (method, lang), group in languages.groupby(["method", "lang"], sort=False):
        values = pd.to_numeric(group["value"], errors="coerce").dropna()
        lang_rows.append({"method": method, "lang": lang, "seeds": len(values), "mean": values.mean(),
                          "std": values.std(ddof=1) if len(values) > 1 else math.nan})
    return pd.DataFrame(rows), pd.DataFrame(lang_rows, columns=["method", "lang", "seeds", "mean", "std"])


def comparison_markdown(table: pd.DataFrame, languages: pd.DataFrame, header: str, alpha: float) -> str:
    """``comparison.md``: the Table 2/4 shape (mean ± std), the paired test, and the per-language table."""
    main = pd.DataFrame([{
        "method": r["method"],
        "seeds": f"{r['seeds']} ({r['diverged']} diverged)" if r.get("diverged") else r["seeds"],
        "source": format_mean_std(r["source_mean"], r["source_std"]),
        "target mean": format_mean_std(r["target_mean_mean"], r["target_mean_std"]),
        "overall": format_mean_std(r["overall_mean"], r["overall_std"]),
        "gap": format_mean_std(r["gap_mean"], r["gap_std"]),
        "Δ overall vs DF": "—" if r["method"] == REFERENCE or math.isnan(r["overall_diff"]) else f"{r['overall_diff']:+.2f}",
        "p (paired t)": "n/a" if math.isnan(r["p"]) else f"{r['p']:.3g}",
        f"> noise (p < {alpha:g})": r["significant"]} for _, r in table.iterrows()])
    wide = languages.assign(text=[format_mean_std(m, s) for m, s in zip(languages["mean"], languages["std"])])
    order = list(dict.fromkeys(languages["lang"]))
    per_lang = wide.pivot(index="method", columns="lang", values="text").reindex(
        index=list(table["method"]), columns=order).reset_index()
    diverged = int(table["diverged"].sum()) if "diverged" in table else 0
    note = (f" {diverged} run(s) diverged (a non-finite training loss): they count in `seeds` but have no score, "
            "so their pairs are missing from the test." if diverged else "")
    return (f"{header}\n\n{markdown_table(main)}\n\nPaired t-test (scipy.stats.ttest_rel, two-sided) of each "
            f"method's per-seed overall score against DF's on the same seeds; n/a with fewer than 2 pairs.{note}\n\n"
            f"## Per language (mean ± std over seeds)\n\n{markdown_table(per_lang)}\n")


def compare_methods(config: CompareConfig, *, num_layers: int | None = None, executor: Executor | None = None,
                    show_progress: bool = False, log=None) -> ComparisonResult:
    """Run every method × seed (reusing finished runs), then write and return the comparison tables.

    A failed run does not stop the others, but the paired test needs every run: once all ran, a failure
    raises :class:`~xlingual_probe.experiments.executor.RunsFailed` naming it, unless
    ``allow_incomplete`` (then the tables leave it out, ``comparison.md`` names it, and the failure stays
    in ``executor.failures`` for the command to report).

    Args:
        config: the comparison.
        num_layers: the model's layer count (default: read from its config; needed for the sets).
        executor: how the runs are carried out (default: one after the other in this process); its CPU
            thread count per run is written into the runs' configs.
        show_progress: progress bars.
        log: where one line per finished run goes (default: ``tqdm.write``).

    Returns:
        The tables, the selection used (``None`` without policy methods) and the paths written.

    Raises:
        UserError: bad options, or a run directory made with other options.
        RunsFailed: a run ended with an error or was interrupted (unless ``allow_incomplete``: then
            the tables leave it out and the command reports it after them).
    """
    out = Path(config.out)
    log = log or tqdm.write
    executor = executor or SequentialExecutor(show_progress=show_progress, log=log)
    train = executor.run_values(config.train)
    if (out / "compare.json").is_file():  # another comparison's runs would be refused one by one, later
        saved = read_json(out / "compare.json").get("train", {})
        changed = differing_keys(saved, train)
        if changed:
            raise UserError(f"{out} holds a comparison of {saved.get('model')} on {saved.get('task')} with other "
                            f"training options ({', '.join(changed)}); use another --out")
    selection = None
    if needs_sets(config.methods):
        selection = resolve_sets(config.sets, train, config.seeds, out / "auto", num_layers=num_layers,
                                 executor=executor, show_progress=show_progress)
    if selection is not None:
        atomic_write_json(out / "selection.json", selection)
    jobs = []
    for method in config.methods:
        values = {**train, **method_values(method, selection, noise_lambda=config.noise_lambda,
                                                  policy=config.policy, policy_iv=config.policy_iv)}
        extra = None if values["slowfast"] is None else {"selection": selection_record(selection)}
        for seed in config.seeds:
            run_config = TrainConfig.from_dict({**values, "seed": seed, "out": ""})
            run_dir, reasons = keyed_run_dir(out / method_dir(method) / f"seed-{seed}", run_identity(run_config))
            if reasons:
                log(f"{method} seed {seed}: runs anew in {run_dir}, not reusing {run_dir.parent / f'seed-{seed}'} "
                    f"({'; '.join(reasons)})")
            jobs.append(RunJob(run_config.replace(out=str(run_dir)), label=method, extra_config=extra))
    runs: dict[str, list[str]] = {}
    for job in jobs:
        runs.setdefault(job.label, []).append(str(job.run_dir))
    atomic_write_json(out / "compare.json", {
        "schema_version": 1, "options": {k: v for k, v in asdict(config).items() if k != "train"},
        "train": train,
        "selection": selection_record(selection),
        "runs": runs})
    outcomes = executor.run(jobs, status_dir=out)
    run_dirs: dict[str, list[tuple[int, Path]]] = {}
    for job in jobs:
        run_dirs.setdefault(job.label, []).append((job.seed, job.run_dir))
    if not config.allow_incomplete:  # name the failed runs and their errors rather than "incomplete"
        executor.raise_for_failures()
    scores, languages = run_scores(run_dirs, config.which, config.allow_incomplete)
    table, lang_table = comparison_tables(scores, languages, REFERENCE, config.alpha)
    model, task = config.train.get("model"), config.train.get("task")
    sets = "" if selection is None else (f" Weight sets ({selection['source']}): " + ", ".join(
        f"{k} = {v or '(empty)'}" for k, v in selection["sets"].items())
        + f"; policy IV {_policy_iv_text(selection, config.policy_iv)}.")
    # every run shares select_by (the comparison's training options); an incomplete one has no summary to read it from
    caption = protocol_caption(jobs[0].config.select_by, config.which, jobs[0].config.source_lang)
    missing = [f"{o.job.label} seed {o.job.seed} ({o.status})" for o in outcomes if not o.complete]
    missing_text = (f" Missing (no result, left out of every table): {', '.join(missing)}." if missing else "")
    header = (f"# Method comparison: {model} on {task}\n\n{caption} Mean ± std over seeds {config.seeds} "
              f"(--which {config.which}); few-shot {config.train.get('few_shot', 0)}.{sets}{missing_text}")
    stem = "comparison" if config.which == "selected" else f"comparison-{config.which}"
    paths = {"csv": out / f"{stem}.csv", "languages": out / f"{stem}_languages.csv", "md": out / f"{stem}.md"}
    atomic_write_text(paths["csv"], table.to_csv(index=False))
    atomic_write_text(paths["languages"], lang_table.to_csv(index=False))
    atomic_write_text(paths["md"], comparison_markdown(table, lang_table, header, config.alpha))
    return ComparisonResult(table, lang_table, scores, selection, paths)
