"""Each figure writes a readable PNG, also for missing references, cells and all-NaN models."""

from __future__ import annotations

import matplotlib.image
import numpy as np
import pandas as pd
import pytest
from matplotlib.text import Text

from ps2f.evaluation import ALL_GENES, summarize
from ps2f.plots import (
    model_colors,
    plot_direction_accuracy,
    plot_r_distributions,
    plot_vs_reference,
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


def test_vs_reference(tmp_path):
    met = _metrics(models=("elastic_net", "a", "b", "c", "d", "e"), cells=(TT, HH))
    fig = plot_vs_reference(met, tmp_path / "v.png", dpi=DPI)
    _check_png(tmp_path / "v.png")
    scatter_axes = [ax for ax in fig.axes if ax.get_xlabel()]
    assert len(scatter_axes) == 5  # 5 other models x 1 held-out-individual cell (TT not drawn)
    assert "elastic_net per-gene r" in scatter_axes[0].get_xlabel()
    assert "r across genes" in _texts(fig)


def test_vs_reference_missing_reference(tmp_path):
    met = _metrics(models=("enformer", "sagenet"))
    fig = plot_vs_reference(met, tmp_path / "v.png", dpi=DPI)
    _check_png(tmp_path / "v.png")
    assert "reference model 'elastic_net' is not in the metrics table" in _texts(fig)
    only_ref = plot_vs_reference(_metrics(models=("elastic_net",)), tmp_path / "o.png", dpi=DPI)
    _check_png(tmp_path / "o.png")
    assert "only the reference model" in _texts(only_ref)


def test_vs_reference_all_nan_model_and_missing_cell(tmp_path):
    met = _metrics(nan_model="enformer")
    # sagenet lacks the held-out genes cell
    met = met.loc[~((met["model"] == "sagenet") & (met["cell"] == HH))]
    fig = plot_vs_reference(met, tmp_path / "v.png", dpi=DPI)
    _check_png(tmp_path / "v.png")
    text = _texts(fig)
    assert "enformer: no defined r" in text
    assert "sagenet not evaluated in this cell" in text
    no_heldout = plot_vs_reference(_metrics(cells=(TT,)), tmp_path / "t.png", dpi=DPI)
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
