"""Each figure writes a readable PNG, also for a missing comparator, missing cells and all-NaN models."""

from __future__ import annotations

import matplotlib.image
import numpy as np
import pandas as pd
import pytest
from matplotlib.text import Text

from ps2f.convergence import NO_EPOCHS
from ps2f.evaluation import ALL_GENES, compare_models, summarize
from ps2f.plots import (
    model_colors,
    model_labels,
    plot_cross_gene_contrast,
    plot_direction_accuracy,
    plot_gene_examples,
    plot_learning_curves,
    plot_r_distributions,
    plot_vs_elastic_net,
    save_figure,
)
from ps2f.schema import METRIC_COLUMNS, cell_label

TH = cell_label("train", "heldout")
HH = cell_label("heldout", "heldout")
TT = cell_label("train", "train")
DPI = 40  # small PNGs keep the tests fast


def _metrics(models=("elastic_net", "enformer", "sagenet"), cells=(TH, HH), nan_model=None):
    rng = np.random.default_rng(0)
    rows = []
    for model in models:
        for cell in cells:
            for g in range(12):
                r = np.nan if model == nan_model else float(np.tanh(rng.normal(0.1, 0.3)))
                p = np.nan if model == nan_model else float(rng.uniform() ** 2)
                rows.append((model, cell, f"g{g}", "pearson_r", r))
                rows.append((model, cell, f"g{g}", "pearson_p", p))
            rows.append((model, cell, ALL_GENES, "cross_gene_pearson_r", 0.5))
            rows.append((model, cell, ALL_GENES, "cross_gene_n", 12.0))
    return pd.DataFrame(rows, columns=list(METRIC_COLUMNS))


def _texts(fig) -> str:
    return "\n".join(t.get_text() for t in fig.findobj(Text))


def _check_png(path):
    assert path.exists() and path.stat().st_size > 1000
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    img = matplotlib.image.imread(path)
    assert img.ndim == 3 and img.shape[0] > 50 and img.shape[1] > 50


def test_r_distributions(tmp_path):
    met = _metrics(cells=(TT, TH, HH))
    fig = plot_r_distributions(met, tmp_path / "sub" / "r.png", dpi=DPI)
    _check_png(tmp_path / "sub" / "r.png")
    data_axes = [ax for ax in fig.axes if ax.get_title()]
    assert len(data_axes) == 3  # one panel per cell present
    assert "n=12 genes" in _texts(fig)


def test_r_distributions_all_nan_model_and_single_model(tmp_path):
    met = _metrics(nan_model="enformer", cells=(HH,))
    fig = plot_r_distributions(met, tmp_path / "r.png", dpi=DPI)
    _check_png(tmp_path / "r.png")
    assert "no defined r" in _texts(fig)
    assert "n=0 of 12 genes" in _texts(fig)
    one = plot_r_distributions(_metrics(models=("only",), cells=(TH,)), tmp_path / "1.png", dpi=DPI)
    _check_png(tmp_path / "1.png")
    assert "only" in _texts(one)


def test_r_distributions_empty_table(tmp_path):
    fig = plot_r_distributions(_metrics().iloc[0:0], tmp_path / "e.png", dpi=DPI)
    _check_png(tmp_path / "e.png")
    assert "no per-gene pearson_r" in _texts(fig)


def test_vs_elastic_net(tmp_path):
    met = _metrics(models=("elastic_net", "a", "b", "c", "d", "e"), cells=(TT, HH))
    fig = plot_vs_elastic_net(met, tmp_path / "v.png", dpi=DPI)
    _check_png(tmp_path / "v.png")
    scatter_axes = [ax for ax in fig.axes if ax.get_xlabel()]
    assert len(scatter_axes) == 5  # 5 other models x 1 held-out-individual cell (TT not drawn)
    assert "elastic_net per-gene r" in scatter_axes[0].get_xlabel()
    assert "r across genes" in _texts(fig)


def test_vs_elastic_net_missing_comparator(tmp_path):
    met = _metrics(models=("enformer", "sagenet"))
    fig = plot_vs_elastic_net(met, tmp_path / "v.png", dpi=DPI)
    _check_png(tmp_path / "v.png")
    assert "comparator 'elastic_net' is not in the metrics table" in _texts(fig)
    only_ref = plot_vs_elastic_net(_metrics(models=("elastic_net",)), tmp_path / "o.png", dpi=DPI)
    _check_png(tmp_path / "o.png")
    assert "only the comparator" in _texts(only_ref)


def test_vs_elastic_net_all_nan_model_and_missing_cell(tmp_path):
    met = _metrics(nan_model="enformer")
    # sagenet lacks the held-out genes cell
    met = met.loc[~((met["model"] == "sagenet") & (met["cell"] == HH))]
    fig = plot_vs_elastic_net(met, tmp_path / "v.png", dpi=DPI)
    _check_png(tmp_path / "v.png")
    text = _texts(fig)
    assert "enformer: no defined r" in text
    assert "sagenet not evaluated in this cell" in text
    no_heldout = plot_vs_elastic_net(_metrics(cells=(TT,)), tmp_path / "t.png", dpi=DPI)
    assert "no cell with held-out individuals" in _texts(no_heldout)


def test_direction_accuracy(tmp_path):
    summ = summarize(_metrics(cells=(TT, HH), nan_model="sagenet"), n_boot=50)
    fig = plot_direction_accuracy(summ, tmp_path / "d.png", dpi=DPI)
    _check_png(tmp_path / "d.png")
    text = _texts(fig)
    assert "no defined r" in text and "no significant gene" in text
    assert "coin flip (0.5)" in text
    ax = fig.axes[0]
    assert any(
        line.get_linestyle() == "--" and np.allclose(line.get_ydata(), 0.5) for line in ax.lines
    )
    # one bar per (defined model, cell) in the frac_positive panel: 2 models x 2 cells
    assert len(ax.patches) == 4


def test_direction_accuracy_missing_statistic_and_many_models(tmp_path):
    met = _metrics(models=tuple(f"m{i}" for i in range(6)), cells=(HH,))
    summ = summarize(met, n_boot=20)
    summ = summ.loc[summ["statistic"] != "direction_accuracy_nominal"]
    fig = plot_direction_accuracy(summ, tmp_path / "d.png", dpi=DPI)
    _check_png(tmp_path / "d.png")
    assert "'direction_accuracy_nominal' is not in the summary table" in _texts(fig)


def test_bad_tables_raise(tmp_path):
    with pytest.raises(ValueError, match="missing columns"):
        plot_r_distributions(_metrics().drop(columns="cell"), tmp_path / "x.png")
    with pytest.raises(ValueError, match="missing columns"):
        plot_direction_accuracy(pd.DataFrame({"model": []}), tmp_path / "x.png")


def test_model_colors_stable_and_distinct():
    a = model_colors(["enformer", "elastic_net", "sagenet"])
    b = model_colors(["sagenet", "enformer", "elastic_net", "enformer"])
    assert a == b
    assert len(set(model_colors([f"m{i}" for i in range(6)]).values())) == 6


def _full_summary():
    """Summary with every statistic: per-gene r/p, permutation FDR, directions, gene means."""
    met = _metrics(cells=(TH, HH))
    rng = np.random.default_rng(1)
    extra = []
    for (model, cell, gene), _ in met.loc[met["gene"] != ALL_GENES].groupby(
        ["model", "cell", "gene"]
    ):
        extra.append((model, cell, gene, "perm_fdr", float(rng.uniform() ** 3)))
        extra.append((model, cell, gene, "lead_direction_correct", float(rng.uniform() < 0.7)))
        extra.append((model, cell, gene, "mean_observed", float(rng.normal())))
        extra.append((model, cell, gene, "mean_predicted", float(rng.normal())))
    met = pd.concat([met, pd.DataFrame(extra, columns=list(METRIC_COLUMNS))], ignore_index=True)
    return met, summarize(met, n_boot=30)


def test_direction_accuracy_both_definitions(tmp_path):
    _, summ = _full_summary()
    fig = plot_direction_accuracy(summ, tmp_path / "d.png", dpi=DPI, fdr=0.1, set_r_threshold=0.3)
    _check_png(tmp_path / "d.png")
    titles = [ax.get_title(loc="left") for ax in fig.axes]
    assert any(t.startswith("(a) gene level (Sasse 2023)") and "FDR < 0.1" in t for t in titles)
    assert any("set0.3" in t and "|r| > 0.3" in t for t in titles)
    assert any(t.startswith("(b) variant level") for t in titles)
    assert "is not in the summary table" not in _texts(fig)
    # one bar per finite estimate, with the unit on the y axis
    stats = [
        "frac_positive",
        "direction_accuracy_nominal",
        "direction_accuracy_fdr",
        "direction_accuracy_set",
        "direction_accuracy_variant",
    ]
    for ax, stat in zip(fig.axes[:5], stats, strict=True):
        finite = summ.loc[summ["statistic"] == stat, "estimate"].notna().sum()
        assert len(ax.patches) == finite, stat
        assert "fraction of genes" in ax.get_ylabel()
    assert len(fig.axes[0].patches) == 6  # 3 models x 2 cells


def test_cross_gene_contrast(tmp_path):
    _, summ = _full_summary()
    summ = summ.loc[~((summ["model"] == "sagenet") & (summ["cell"] == HH))]
    fig = plot_cross_gene_contrast(summ, tmp_path / "c.png", dpi=DPI)
    _check_png(tmp_path / "c.png")
    text = _texts(fig)
    assert "across genes: r of gene means" in text and "median per-gene r" in text
    assert "sagenet\n(not evaluated)" in text
    assert fig.axes[0].get_ylabel() == "Pearson r (unitless)"
    empty = plot_cross_gene_contrast(summ.iloc[0:0], tmp_path / "e.png", dpi=DPI)
    assert "neither median_r nor cross_gene_pearson_r" in _texts(empty)


def _examples_inputs():
    rng = np.random.default_rng(3)
    rows, dose, metrics = [], [], []
    for g in range(6):
        d = rng.integers(0, 3, size=20)
        obs = d + rng.normal(size=20)
        for model, eff in (("good", 1.0), ("bad", -1.0)):
            pred = eff * (g - 2.5) * obs + rng.normal(size=20)
            for i in range(20):
                rows.append((model, f"g{g}", f"i{i}", "heldout", "heldout", obs[i], pred[i]))
            r = float(np.corrcoef(pred, obs)[0, 1])
            metrics.append((model, HH, f"g{g}", "pearson_r", r))
        if g < 5:  # g5 has no lead variant
            dose += [(f"g{g}", f"var{g}", f"i{i}", "heldout", int(d[i])) for i in range(20)]
    preds = pd.DataFrame(
        rows,
        columns=[
            "model",
            "gene",
            "individual",
            "gene_set",
            "individual_set",
            "observed",
            "predicted",
        ],
    )
    dosages = pd.DataFrame(
        dose, columns=["gene", "variant_id", "individual", "individual_set", "dosage"]
    )
    return preds, pd.DataFrame(metrics, columns=list(METRIC_COLUMNS)), dosages


def test_gene_examples(tmp_path):
    preds, met, dosages = _examples_inputs()
    fig = plot_gene_examples(
        preds, met, dosages, tmp_path / "x.png", observed_units="log1p units", dpi=DPI
    )
    _check_png(tmp_path / "x.png")
    text = _texts(fig)
    assert "lead-variant ALT dosage 2" in text
    r = met.set_index(["model", "gene"])["value"]
    best = r.loc["good"].idxmax()
    worst = r.loc["good"].idxmin()
    titles = [ax.get_title() for ax in fig.axes]
    assert any(t.startswith(f"best 1: {best}\n") for t in titles)
    assert any(t.startswith(f"worst 1: {worst}\n") for t in titles)
    assert "observed expression (log1p units)" in [ax.get_xlabel() for ax in fig.axes]
    assert "lead: var0" in text or "lead: var1" in text
    # one point per individual, split by dosage colour
    ax = next(a for a in fig.axes if a.get_title().startswith(f"best 1: {best}"))
    assert sum(len(c.get_offsets()) for c in ax.collections) == 20
    # without dosages: grey points and a note
    fig2 = plot_gene_examples(preds, met, None, tmp_path / "y.png", n_best=1, n_worst=0, dpi=20)
    assert "no lead eQTL" in _texts(fig2)


def test_gene_examples_too_few_genes(tmp_path):
    preds, met, dosages = _examples_inputs()
    keep = met["gene"].isin(["g0", "g1"])
    fig = plot_gene_examples(
        preds.loc[preds["model"] == "good"], met.loc[keep & (met["model"] == "good")], dosages,
        tmp_path / "x.png", n_best=2, n_worst=1, dpi=20,
    )  # fmt: skip
    assert "fewer than 3 genes with a defined r" in _texts(fig)


def test_svg_output(tmp_path):
    fig = plot_r_distributions(_metrics(), tmp_path / "r.png", dpi=DPI)
    save_figure(fig, tmp_path / "r.svg")
    head = (tmp_path / "r.svg").read_text()[:400]
    assert "<svg" in head
    plot_r_distributions(_metrics(), tmp_path / "direct.svg")
    assert "<svg" in (tmp_path / "direct.svg").read_text()[:400]


def test_vs_elastic_net_with_comparisons_and_comparator_cells(tmp_path):
    met, _ = _full_summary()
    # the comparator (a genotype baseline) has no held-out genes
    met = met.loc[~((met["model"] == "elastic_net") & (met["cell"] == HH))]
    comp = compare_models(met, n_boot=30)
    fig = plot_vs_elastic_net(met, tmp_path / "v.png", comparisons=comp, dpi=DPI)
    _check_png(tmp_path / "v.png")
    scatter_axes = [ax for ax in fig.axes if ax.get_xlabel()]
    assert len(scatter_axes) == 2  # 2 models x the one cell the comparator has
    assert "Wilcoxon p =" in _texts(fig) and "median Δr" in _texts(fig)
    no_ref = met.copy()
    no_ref.loc[no_ref["model"] == "elastic_net", "cell"] = TT  # training individuals only
    fig2 = plot_vs_elastic_net(no_ref, tmp_path / "n.png", dpi=DPI)
    assert "has no cell with held-out individuals" in _texts(fig2)


# ------------------------------------------------------------------------------------------
# Convergence in the figures: labels, learning curves

_TRAINING = pd.DataFrame(
    {
        "model": ["sagenet", "enformer", "elastic_net", "rmodel"],
        "status": [
            "not converged (time ceiling)",
            "converged",
            NO_EPOCHS,
            "convergence unknown (no validation)",
        ],
    }
)


def test_model_labels_mark_models_that_did_not_converge():
    labels = model_labels(["sagenet", "enformer", "elastic_net", "rmodel", "other"], _TRAINING)
    assert labels == {
        "sagenet": "sagenet (not converged)",
        "enformer": "enformer",
        "elastic_net": "elastic_net",
        "rmodel": "rmodel (convergence unknown)",
        "other": "other",
    }
    assert model_labels(["sagenet"]) == {"sagenet": "sagenet"}


@pytest.mark.parametrize(
    "draw",
    [
        lambda m, s, p: plot_r_distributions(m, p, dpi=DPI, training=_TRAINING),
        lambda m, s, p: plot_vs_elastic_net(m, p, dpi=DPI, training=_TRAINING),
        lambda m, s, p: plot_direction_accuracy(s, p, dpi=DPI, training=_TRAINING),
        lambda m, s, p: plot_cross_gene_contrast(s, p, dpi=DPI, training=_TRAINING),
    ],
)
def test_every_figure_labels_a_model_that_did_not_converge(tmp_path, draw):
    met = _metrics(cells=(TH, HH))
    fig = draw(met, summarize(met, n_boot=20), tmp_path / "f.png")
    text = _texts(fig)
    assert "sagenet (not converged)" in text
    assert "enformer (not converged)" not in text and "elastic_net (not" not in text


def _history(n: int, stopped_by: str | None, validation: bool = True) -> pd.DataFrame:
    epoch = np.arange(1, n + 1)
    h = pd.DataFrame({"epoch": epoch, "loss": 2.0 / epoch, "loss_mean": 1.0 / epoch,
                      "loss_dev": 1.0 / epoch})  # fmt: skip
    if validation:
        h["val_median_r"] = 0.6 - 0.01 * (epoch - 3) ** 2
        h["val_median_r_fit_genes"] = h["val_median_r"] + 0.02
        h["val_median_r_validation_genes"] = 0.1 * np.sin(epoch)
        h["best"] = (np.maximum.accumulate(h["val_median_r"]) == h["val_median_r"]).astype(float)
    h["stopped_by"] = None
    if stopped_by is not None:
        h.loc[n - 1, "stopped_by"] = stopped_by
    return h


def test_learning_curves(tmp_path):
    r_hist = pd.DataFrame({"epoch": [1, 2, 3], "loss": [1.0, 0.8, 0.7], "val_mse": [0.6, 0.5, 0.55],
                           "val_cross_gene_r": [0.1, 0.3, 0.2], "best": [1.0, 1.0, 0.0],
                           "stopped_by": [None, None, "epochs"]})  # fmt: skip
    fig = plot_learning_curves(
        {"p_model": _history(8, "early_stopping"), "r_model": r_hist}, tmp_path / "lc.png", dpi=DPI
    )
    _check_png(tmp_path / "lc.png")
    text = _texts(fig)
    assert "p_model: converged; kept epoch 3 of 8" in text
    assert "r_model: not converged (epoch ceiling); kept epoch 2 of 3" in text
    assert "median r, validation genes\n(unseen in training)" in text
    assert "median r, fit genes" in text
    # the kept epoch is marked in both panels of each row (and the r-model's MSE gets its own axis)
    kept = [ax for ax in fig.axes if any(np.allclose(ln.get_xdata(), 3) for ln in ax.lines)]
    assert len(kept) == 2
    assert any("validation MSE" in ax.get_ylabel() for ax in fig.axes)


def test_learning_curves_without_validation_and_without_history(tmp_path):
    fig = plot_learning_curves(
        {"p_model": _history(4, "no_validation", validation=False)}, tmp_path / "a.png", dpi=DPI
    )
    _check_png(tmp_path / "a.png")
    text = _texts(fig)
    assert "convergence unknown (no validation); kept epoch 4 of 4" in text
    assert "no validation metric" in text
    fig = plot_learning_curves({}, tmp_path / "b.svg")
    assert "no training history" in _texts(fig)
    with pytest.raises(ValueError, match="history of p_model"):
        plot_learning_curves({"p_model": pd.DataFrame({"epoch": [1]})}, tmp_path / "c.png")


def test_direction_accuracy_leaves_gene_set_cells_to_the_tables(tmp_path):
    from ps2f.evaluation.gene_sets import NONLINEAR, gene_set_metrics

    met = _metrics(models=("elastic_net", "enformer"), cells=(TT, HH))
    met = pd.concat([met, gene_set_metrics(met, ["g0", "g1", "g2"], NONLINEAR)])
    summ = summarize(met, n_boot=0)
    assert summ["cell"].nunique() == 4
    fig = plot_direction_accuracy(summ, tmp_path / "d.png", dpi=DPI)
    assert len(fig.axes[0].patches) == 4  # 2 models x the 2 cells, no nonlinear-gene cells
    assert "nonlinear" not in _texts(fig)
