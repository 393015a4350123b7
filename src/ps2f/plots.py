"""Figures from the evaluation tables (never from models).

Each function takes tables of :mod:`ps2f.schema` / :mod:`ps2f.evaluation` layout (metrics,
summary, comparisons; the predictions and lead-variant dosage tables for the gene examples),
writes one file (PNG or SVG, by the path's suffix; :func:`save_figure` writes the same figure
in another format) and returns the :class:`matplotlib.figure.Figure`. Figures are built with the object API on the Agg canvas
(no ``pyplot`` state, no backend switch), so they work headless and in parallel jobs. Models
keep one colour from the Okabe–Ito palette (Okabe & Ito 2008, colour-blind safe) across all
figures: colours are assigned in sorted model-name order.

Every figure copes with 1 to 8 models (colours repeat beyond 8), with cells missing from the
table, and with a model whose metrics are all NaN (drawn and annotated "no defined r").

Every figure of model numbers takes the training table (``training``,
:func:`ps2f.convergence.training_table`): a model whose training a ceiling ended is labelled
"<model> (not converged)" in its legend, axis or panel label (:func:`model_labels`).
:func:`plot_learning_curves` draws the sequence models' per-epoch histories.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from ps2f.convergence import legend_suffix, status_label
from ps2f.evaluation.tables import ALL_GENES
from ps2f.schema import (
    CELLS,
    EXTERNAL,
    HELDOUT_POPULATION,
    METRIC_COLUMNS,
    SUMMARY_COLUMNS,
    cell_label,
)

__all__ = [
    "OKABE_ITO",
    "model_colors",
    "model_labels",
    "save_figure",
    "plot_r_distributions",
    "plot_vs_elastic_net",
    "plot_direction_accuracy",
    "plot_cross_gene_contrast",
    "plot_gene_examples",
    "plot_learning_curves",
    "plot_window_coverage",
]

#: Okabe–Ito colours, reordered so that the low-contrast yellow comes after the first six.
OKABE_ITO: tuple[str, ...] = (
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#009E73",  # bluish green
    "#D55E00",  # vermillion
    "#0072B2",  # blue
    "#CC79A7",  # reddish purple
    "#F0E442",  # yellow
    "#000000",  # black
)
_NO_R = "no defined r"
_R_TICKS = (-1.0, -0.5, 0.0, 0.5, 1.0)
_R_LABEL = "per-gene Pearson r (unitless)\npredicted vs observed,\nacross individuals"


def model_colors(models: Sequence[str]) -> dict[str, str]:
    """Map model names to Okabe–Ito colours, in sorted name order (cycling after 8).

    Parameters
    ----------
    models : sequence of str
        Model names (duplicates allowed).

    Returns
    -------
    dict of str to str
        Hex colour per distinct model.
    """
    return {m: OKABE_ITO[i % len(OKABE_ITO)] for i, m in enumerate(sorted(set(models)))}


def model_labels(models: Sequence[str], training: pd.DataFrame | None = None) -> dict[str, str]:
    """Display name of each model: its name, plus " (not converged)" when a ceiling ended its training.

    Parameters
    ----------
    models : sequence of str
        Model names.
    training : pandas.DataFrame, optional
        Training table (``model``, ``status``; :func:`ps2f.convergence.training_table`). None:
        the names unchanged.

    Returns
    -------
    dict of str to str
        ``"p_model (not converged)"``, ``"p_model (convergence unknown)"`` or the plain name
        (converged, or not trained by epochs) per distinct model.
    """
    status: dict[str, str] = {}
    if training is not None:
        _check_columns(training, ("model", "status"), "training table")
        status = dict(zip(training["model"].astype(str), training["status"], strict=True))
    return {m: m + legend_suffix(status.get(m)) for m in models}


def _cell_title(cell: str) -> str:
    """Human label of a cell, e.g. ``"held-out genes | training individuals"``."""
    return (
        cell.replace("heldout_", "held-out ")
        .replace("train_", "training ")
        .replace("|", " | ")
        .replace("_", " ")
    )


def _present_cells(cells: pd.Series) -> list[str]:
    """Cells present, in :data:`ps2f.schema.CELLS` order (unknown labels last, sorted).

    Cells restricted to a gene set (``"<cell>|nonlinear_genes"``, in the summary and
    comparisons tables) are left out of the figures; the tables report them.
    """
    present = set(cells.astype(str))
    subsets = {c for c in present if any(c.startswith(base + "|") for base in CELLS)}
    return [c for c in CELLS if c in present] + sorted(present - set(CELLS) - subsets)


def _check_columns(df: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{what}: missing columns {missing}; expected {list(columns)}")


def _per_gene_r(metrics: pd.DataFrame) -> pd.DataFrame:
    """Rows of ``pearson_r`` for single genes, as (model, cell, gene, value)."""
    _check_columns(metrics, METRIC_COLUMNS, "metrics table")
    sel = metrics.loc[(metrics["metric"] == "pearson_r") & (metrics["gene"] != ALL_GENES)]
    out = sel.loc[:, ["model", "cell", "gene", "value"]].copy()
    for col in ("model", "cell", "gene"):
        out[col] = out[col].astype(str)
    out["value"] = out["value"].astype(np.float64)
    return out.reset_index(drop=True)


def _message(ax: Axes, text: str) -> None:
    """Turn ``ax`` into a text panel (used instead of raising on missing data)."""
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True, transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def save_figure(fig: Figure, path: str | PathLike[str], dpi: int = 150) -> Figure:
    """Write ``fig`` to ``path`` as PNG or SVG, chosen by the suffix (``.png`` / ``.svg``).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        A figure returned by one of the ``plot_*`` functions.
    path : str or path-like
        Output file; parent folders are created. A suffix other than ``.svg`` writes PNG.
    dpi : int, default 150
        Resolution of a PNG (an SVG is vector; text is stored as paths so it renders alike
        everywhere).

    Returns
    -------
    matplotlib.figure.Figure
        ``fig``.
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fmt = "svg" if out.suffix.lower() == ".svg" else "png"
    # constrained layout places the panels; the tight box also keeps labels of equal-aspect
    # panels and outside legends inside the image
    fig.savefig(out, dpi=dpi, format=fmt, bbox_inches="tight", pad_inches=0.08)
    return fig


_save = save_figure


def plot_r_distributions(
    metrics: pd.DataFrame,
    path: str | PathLike[str],
    dpi: int = 150,
    seed: int = 0,
    training: pd.DataFrame | None = None,
) -> Figure:
    """Plot the distribution of per-gene Pearson r per model, one panel per cell present.

    Each model gets a box (median, quartiles, whiskers at 1.5 IQR) over the genes with a
    defined r, the individual genes as jittered points, and ``n`` (defined genes, and total
    genes when some are undefined) in its axis label. A model whose r is NaN for every gene of
    a cell is kept on the axis and annotated "no defined r". A dashed line marks r = 0.

    Parameters
    ----------
    metrics : pandas.DataFrame
        Metrics table (:data:`ps2f.schema.METRIC_COLUMNS`); only its ``pearson_r`` rows of
        single genes are used.
    path : str or path-like
        PNG file to write (parent folders are created).
    dpi : int, default 150
        Resolution of the PNG.
    seed : int, default 0
        Seed of the horizontal jitter of the points.
    training : pandas.DataFrame, optional
        Training table: models that did not converge are labelled so (:func:`model_labels`).

    Returns
    -------
    matplotlib.figure.Figure
        The figure written to ``path``.

    Raises
    ------
    ValueError
        If a column of :data:`ps2f.schema.METRIC_COLUMNS` is missing.
    """
    r = _per_gene_r(metrics)
    cells = _present_cells(r["cell"])
    models = sorted(r["model"].unique())
    colors = model_colors(models)
    shown_as = model_labels(models, training)
    n_panels = max(1, len(cells))
    width = max(3.2, 0.75 * len(models) + 1.6)
    fig = Figure(figsize=(width * n_panels, 4.6), layout="constrained")
    axes = fig.subplots(1, n_panels, sharey=True, squeeze=False)[0]
    if not cells:
        _message(axes[0], "no per-gene pearson_r in the metrics table")
        return _save(fig, path, dpi)

    rng = np.random.default_rng(seed)
    for ax, cell in zip(axes, cells, strict=True):
        sub = r.loc[r["cell"] == cell]
        labels = []
        for x, model in enumerate(models):
            vals = sub.loc[sub["model"] == model, "value"].to_numpy()
            total = vals.size
            vals = vals[~np.isnan(vals)]
            if total == 0:
                labels.append(f"{shown_as[model]}\n(not evaluated)")
                continue
            label = f"n={vals.size}" if vals.size == total else f"n={vals.size} of {total}"
            labels.append(f"{shown_as[model]}\n({label} genes)")
            if vals.size == 0:
                ax.text(x, 0.0, _NO_R, rotation=90, ha="center", va="center", fontsize=9)
                continue
            box = ax.boxplot(
                vals, positions=[x], widths=0.55, showfliers=False, patch_artist=True,
                medianprops={"color": "black", "linewidth": 1.5},
            )  # fmt: skip
            for patch in box["boxes"]:
                patch.set_facecolor(colors[model])
                patch.set_alpha(0.35)
            jitter = rng.uniform(-0.2, 0.2, vals.size)
            ax.scatter(
                x + jitter, vals, s=6, color=colors[model], alpha=0.6, linewidths=0, zorder=3
            )
        ax.axhline(0.0, color="0.3", linestyle="--", linewidth=0.8, zorder=1)
        ax.set_xticks(range(len(models)))
        ax.set_xticklabels(labels, rotation=30 if len(models) > 3 else 0, ha="center")
        ax.set_xlim(-0.6, len(models) - 0.4)
        ax.set_ylim(-1.05, 1.05)
        ax.set_yticks(_R_TICKS)
        ax.set_title(_cell_title(cell), fontsize=10)
        ax.set_xlabel("model")
    axes[0].set_ylabel(_R_LABEL)
    return _save(fig, path, dpi)


def _corr_text(x: np.ndarray, y: np.ndarray) -> str:
    """Annotation of a model-vs-comparator scatter: r across genes and how many genes lie above y = x."""
    n = x.size
    above = int((y > x).sum())
    if n >= 3 and np.ptp(x) > 0 and np.ptp(y) > 0:
        rr = float(np.corrcoef(x, y)[0, 1])
        head = f"r across genes = {rr:.2f}"
    else:
        head = "r across genes: n/a"
    return f"{head}\nn = {n} genes; above diagonal: {above}"


def _paired_text(row) -> str:
    """Annotation line of a ``median_delta_r`` comparison row (empty when there is none)."""
    if row is None or not np.isfinite(row.estimate):
        return ""
    ci = ""
    if np.isfinite(row.ci_low) and np.isfinite(row.ci_high):
        ci = f" [{row.ci_low:.2f}, {row.ci_high:.2f}]"
    p = f"{row.p_value:.2g}" if np.isfinite(row.p_value) else "n/a"
    return f"\nmedian Δr = {row.estimate:+.2f}{ci}\nWilcoxon p = {p}"


def plot_vs_elastic_net(
    metrics: pd.DataFrame,
    path: str | PathLike[str],
    comparator: str = "elastic_net",
    dpi: int = 150,
    comparisons: pd.DataFrame | None = None,
    training: pd.DataFrame | None = None,
) -> Figure:
    """Scatter each model's per-gene r against a comparator model's r (ElasticNet by default) on the same genes.

    One panel per (held-out-individuals cell present, other model): x is the comparator's
    per-gene Pearson r, y the other model's, over the genes where both are defined; the
    diagonal y = x separates genes where the model beats the comparator (above) from those where
    it does not. Each panel is annotated with the Pearson r across genes of the two r's and the
    number of genes above the diagonal. Only cells with held-out individuals in which the
    comparator was evaluated are drawn (r on training individuals of a fitted baseline is
    in-sample; a genotype baseline has no held-out genes with ``baselines.genes: train``).

    Parameters
    ----------
    metrics : pandas.DataFrame
        Metrics table (:data:`ps2f.schema.METRIC_COLUMNS`); its ``pearson_r`` rows are used.
    path : str or path-like
        PNG file to write (parent folders are created).
    comparator : str, default "elastic_net"
        Model on the x axis. When it is absent, or there is no other model or no held-out
        individuals cell, the figure is a single panel that says so.
    dpi : int, default 150
        Resolution of the PNG.
    comparisons : pandas.DataFrame, optional
        Comparisons table (:data:`ps2f.evaluation.COMPARISON_COLUMNS`); when given, each panel
        also shows the median paired difference of r with its CI and the Wilcoxon
        signed-rank p-value (statistic ``median_delta_r``).
    training : pandas.DataFrame, optional
        Training table: models that did not converge are labelled so (:func:`model_labels`).

    Returns
    -------
    matplotlib.figure.Figure
        The figure written to ``path``.

    Raises
    ------
    ValueError
        If a column of :data:`ps2f.schema.METRIC_COLUMNS` is missing.
    """
    r = _per_gene_r(metrics)
    models = sorted(r["model"].unique())
    colors = model_colors(models)
    shown_as = model_labels([*models, comparator], training)
    paired = {}
    if comparisons is not None and len(comparisons):
        sel = comparisons.loc[
            (comparisons["statistic"] == "median_delta_r")
            & (comparisons["comparator"] == comparator)
        ]
        paired = {
            (m, c): row
            for m, c, row in zip(sel["model"], sel["cell"], sel.itertuples(), strict=True)
        }
    others = [m for m in models if m != comparator]
    heldout_cells = {
        cell_label(g, i)
        for g in ("train", "heldout")
        for i in ("heldout", HELDOUT_POPULATION, EXTERNAL)
    }
    cells = [c for c in _present_cells(r["cell"]) if c in heldout_cells]
    # cells the comparator was not evaluated in (with baselines.genes: train, a genotype
    # baseline has no held-out genes) have nothing to compare against: they are left out
    ref_cells = set(r.loc[r["model"] == comparator, "cell"])
    cells_with_ref = [c for c in cells if c in ref_cells]

    problem = None
    if comparator not in models:
        shown = ", ".join(models) if models else "none"
        problem = (
            f"comparator '{comparator}' is not in the metrics table\n"
            f"(models present: {shown})"
        )
    elif not others:
        problem = f"only the comparator '{comparator}' is in the metrics table"
    elif not cells:
        problem = "no cell with held-out individuals in the metrics table"
    elif not cells_with_ref:
        problem = f"comparator '{comparator}' has no cell with held-out individuals"
    cells = cells_with_ref
    if problem is not None:
        fig = Figure(figsize=(6, 3), layout="constrained")
        _message(fig.subplots(), problem)
        return _save(fig, path, dpi)

    fig = Figure(figsize=(3.6 * len(others), 3.8 * len(cells)), layout="constrained")
    axes = fig.subplots(len(cells), len(others), squeeze=False)
    wide = r.pivot(index=["cell", "gene"], columns="model", values="value")
    for i, cell in enumerate(cells):
        in_cell = r.loc[r["cell"] == cell]
        present = set(in_cell["model"])
        tab = wide.loc[cell]
        for j, model in enumerate(others):
            ax = axes[i, j]
            ax.set_title(f"{shown_as[model]}\n{_cell_title(cell)}", fontsize=9)
            if comparator not in present or model not in present:
                missing = comparator if comparator not in present else model
                _message(ax, f"{missing} not evaluated in this cell")
                continue
            pair = tab[[comparator, model]].dropna()
            if pair.empty:
                why = "no gene with r defined for both models"
                for name in (model, comparator):
                    if in_cell.loc[in_cell["model"] == name, "value"].isna().all():
                        why = f"{name}: {_NO_R}\n({why})"
                        break
                _message(ax, why)
                continue
            x = pair[comparator].to_numpy()
            y = pair[model].to_numpy()
            _r_vs_r_axes(ax, shown_as[comparator], shown_as[model])
            ax.scatter(x, y, s=8, color=colors[model], alpha=0.7, linewidths=0)
            ax.text(
                0.03, 0.97, _corr_text(x, y) + _paired_text(paired.get((model, cell))),
                transform=ax.transAxes, ha="left", va="top",
                fontsize=8, bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none"},
            )  # fmt: skip
    return _save(fig, path, dpi)


def _r_vs_r_axes(ax: Axes, comparator: str, model: str) -> None:
    """Axes of a model-vs-comparator scatter of per-gene r: y = x, zero lines, r limits.

    ``comparator`` and ``model`` are the labels shown (:func:`model_labels`).
    """
    ax.plot([-1, 1], [-1, 1], color="0.3", linestyle="--", linewidth=0.8)
    ax.axhline(0.0, color="0.7", linewidth=0.6)
    ax.axvline(0.0, color="0.7", linewidth=0.6)
    ax.set_xlim(-1.05, 1.05)
    ax.set_ylim(-1.05, 1.05)
    ax.set_xticks(_R_TICKS)
    ax.set_yticks(_R_TICKS)
    ax.set_aspect("equal")
    ax.set_xlabel(f"{comparator} per-gene r (unitless)")
    ax.set_ylabel(f"{model} per-gene r (unitless)")




def _direction_panels(
    alpha: float, fdr: float, set_r_threshold: float
) -> tuple[tuple[str, str, str], ...]:
    """(statistic, panel title, text for a NaN estimate) of the direction-accuracy panels."""
    return (
        ("frac_positive", "all genes: fraction with r > 0", _NO_R),
        (
            "direction_accuracy_nominal",
            f"(a) gene level, nominal:\ngenes with p < {alpha:g}, fraction with r > 0",
            "no significant gene",
        ),
        (
            "direction_accuracy_fdr",
            f"(a) gene level (Sasse 2023): genes with\npermutation BH-FDR < {fdr:g}, "
            "fraction with r > 0",
            "no significant gene",
        ),
        (
            "direction_accuracy_set",
            f"(a) gene level, set{set_r_threshold:g}: FDR < {fdr:g}\n"
            f"and |r| > {set_r_threshold:g}, fraction with r > 0",
            "no gene in set",
        ),
        (
            "direction_accuracy_variant",
            "(b) variant level: fraction of eGenes where\nsign(model ALT-REF slope) = sign(eQTL β)",
            "no eGene",
        ),
    )


def _summary_table(summary: pd.DataFrame) -> pd.DataFrame:
    _check_columns(summary, SUMMARY_COLUMNS, "summary table")
    tab = summary.loc[:, list(SUMMARY_COLUMNS)].copy()
    for col in ("model", "cell", "statistic"):
        tab[col] = tab[col].astype(str)
    return tab


def plot_direction_accuracy(
    summary: pd.DataFrame,
    path: str | PathLike[str],
    dpi: int = 150,
    alpha: float = 0.05,
    fdr: float = 0.05,
    set_r_threshold: float = 0.2,
    training: pd.DataFrame | None = None,
) -> Figure:
    """Bar charts of direction accuracy per model and cell, both definitions, with CIs.

    Five panels, one per statistic of :func:`ps2f.evaluation.summarize`: ``frac_positive``;
    gene-level direction accuracy (definition (a)) among nominally significant genes
    (``direction_accuracy_nominal``), among permutation-FDR significant genes
    (``direction_accuracy_fdr``, Sasse et al. 2023) and in Sasse's "set0.2"
    (``direction_accuracy_set``); and variant-level direction accuracy (definition (b),
    ``direction_accuracy_variant``). Within a panel, cells present are groups on the x axis and
    models are bars (one colour per model), with the percentile bootstrap CI from ``ci_low``
    and ``ci_high`` as error bars and the number of genes (``n_genes``) above each bar. A dashed
    line at 0.5 marks a coin flip. A NaN estimate is drawn as an empty slot labelled with the
    reason; a statistic absent from the table gives a panel that says so. The sixth slot of the
    3 x 2 grid holds the legend.

    Parameters
    ----------
    summary : pandas.DataFrame
        Summary table (:data:`ps2f.schema.SUMMARY_COLUMNS`), e.g. from
        :func:`ps2f.evaluation.summarize`.
    path : str or path-like
        File to write, PNG or SVG by its suffix (parent folders are created).
    dpi : int, default 150
        Resolution of a PNG.
    alpha, fdr, set_r_threshold : float
        Thresholds the summary was computed with (for the panel titles only).
    training : pandas.DataFrame, optional
        Training table: models that did not converge are labelled so (:func:`model_labels`).

    Returns
    -------
    matplotlib.figure.Figure
        The figure written to ``path``.

    Raises
    ------
    ValueError
        If a column of :data:`ps2f.schema.SUMMARY_COLUMNS` is missing.
    """
    tab = _summary_table(summary)
    panels = _direction_panels(alpha, fdr, set_r_threshold)
    models = sorted(tab["model"].unique())
    colors = model_colors(models)
    wanted = {stat for stat, _, _ in panels}
    cells = _present_cells(tab.loc[tab["statistic"].isin(wanted), "cell"])
    n_models = max(1, len(models))
    width = max(4.2, len(cells) * (0.3 * n_models + 0.5) + 1.3)
    fig = Figure(figsize=(2 * width, 3.3 * 3), layout="constrained")
    grid = fig.subplots(3, 2, squeeze=False)
    axes = grid.reshape(-1)
    bar_w = 0.8 / n_models
    for ax, (stat, title, nan_text) in zip(axes, panels, strict=False):
        sub = tab.loc[tab["statistic"] == stat].set_index(["model", "cell"])
        ax.set_title(title, fontsize=9, loc="left")
        ax.set_ylabel("fraction of genes (unitless)", fontsize=8)
        if sub.empty:
            _message(ax, f"statistic '{stat}' is not in the summary table")
            continue
        for j, model in enumerate(models):
            xs = np.arange(len(cells)) - 0.4 + bar_w * (j + 0.5)
            for x, cell in zip(xs, cells, strict=True):
                if (model, cell) not in sub.index:
                    continue
                row = sub.loc[(model, cell)]
                est, lo, hi = float(row["estimate"]), float(row["ci_low"]), float(row["ci_high"])
                if np.isnan(est):
                    ax.text(x, 0.02, nan_text, rotation=90, ha="center", va="bottom", fontsize=6)
                    continue
                ax.bar(x, est, width=bar_w * 0.92, color=colors[model], edgecolor="black",
                       linewidth=0.4)  # fmt: skip
                top = est
                if np.isfinite(lo) and np.isfinite(hi):
                    ax.errorbar(
                        x, est, yerr=[[max(est - lo, 0.0)], [max(hi - est, 0.0)]],
                        color="black", capsize=2, linewidth=0.9,
                    )  # fmt: skip
                    top = max(top, hi)
                ax.text(x, top + 0.02, f"n={int(row['n_genes'])}", ha="center", va="bottom",
                        fontsize=6, rotation=90 if n_models > 3 else 0)  # fmt: skip
        ax.axhline(0.5, color="0.3", linestyle="--", linewidth=0.9)
        ax.set_xticks(range(len(cells)))
        ax.set_xticklabels([_cell_title(c).replace(" | ", "\n") for c in cells], fontsize=7)
        ax.set_xlim(-0.5, len(cells) - 0.5)
        ax.set_ylim(0.0, 1.22)
        ax.set_yticks(np.linspace(0, 1, 6))
    legend_ax = axes[-1]
    legend_ax.set_axis_off()
    if models:
        shown_as = model_labels(models, training)
        handles = [
            Patch(facecolor=colors[m], edgecolor="black", label=shown_as[m]) for m in models
        ]
        handles.append(Line2D([], [], color="0.3", linestyle="--", label="coin flip (0.5)"))
        legend_ax.legend(
            handles=handles, loc="center", frameon=False,
            title="model\n(error bars: 95% percentile\nbootstrap CI over genes;\n"
            "n: genes used)",
        )  # fmt: skip
    return _save(fig, path, dpi)


_CONTRAST = (
    ("median_r", "o", "across individuals: median per-gene r"),
    ("cross_gene_pearson_r", "s", "across genes: r of gene means (cross-gene r)"),
)


def plot_cross_gene_contrast(
    summary: pd.DataFrame,
    path: str | PathLike[str],
    dpi: int = 150,
    training: pd.DataFrame | None = None,
) -> Figure:
    """Contrast cross-gene r with the median per-gene (cross-individual) r, per model and cell.

    Huang et al. (2023) showed that S2F models rank genes by expression well (high cross-gene
    r) but explain little of the variation between people (per-gene r near 0, often of the
    wrong sign). One panel per cell present; per model, a circle for ``median_r`` and a square
    for ``cross_gene_pearson_r``, with their percentile bootstrap CIs as error bars and joined
    by a thin line (a long line is a large gap between the two views).

    Parameters
    ----------
    summary : pandas.DataFrame
        Summary table (:data:`ps2f.schema.SUMMARY_COLUMNS`).
    path : str or path-like
        File to write, PNG or SVG by its suffix.
    dpi : int, default 150
        Resolution of a PNG.
    training : pandas.DataFrame, optional
        Training table: models that did not converge are labelled so (:func:`model_labels`).

    Returns
    -------
    matplotlib.figure.Figure
        The figure written to ``path``.

    Raises
    ------
    ValueError
        If a column of :data:`ps2f.schema.SUMMARY_COLUMNS` is missing.
    """
    tab = _summary_table(summary)
    tab = tab.loc[tab["statistic"].isin([s for s, _, _ in _CONTRAST])]
    cells = _present_cells(tab["cell"])
    models = sorted(tab["model"].unique())
    colors = model_colors(models)
    shown_as = model_labels(models, training)
    n_panels = max(1, len(cells))
    width = max(3.0, 0.7 * len(models) + 1.4)
    fig = Figure(figsize=(width * n_panels, 4.4), layout="constrained")
    axes = fig.subplots(1, n_panels, sharey=True, squeeze=False)[0]
    if not cells:
        _message(axes[0], "neither median_r nor cross_gene_pearson_r is in the summary table")
        return _save(fig, path, dpi)
    by = tab.set_index(["model", "cell", "statistic"])
    for ax, cell in zip(axes, cells, strict=True):
        labels = []
        for x, model in enumerate(models):
            points = []
            for k, (stat, marker, _) in enumerate(_CONTRAST):
                key = (model, cell, stat)
                if key not in by.index:
                    continue
                row = by.loc[key]
                est, lo, hi = float(row["estimate"]), float(row["ci_low"]), float(row["ci_high"])
                if np.isnan(est):
                    continue
                xk = x + (k - 0.5) * 0.25
                yerr = None
                if np.isfinite(lo) and np.isfinite(hi):
                    yerr = [[max(est - lo, 0.0)], [max(hi - est, 0.0)]]
                ax.errorbar(
                    xk, est, yerr=yerr, fmt=marker, color=colors[model], markeredgecolor="black",
                    markersize=7, capsize=2, linewidth=1.0, ecolor="0.2",
                )  # fmt: skip
                points.append((xk, est))
            if len(points) == 2:
                ax.plot(*zip(*points, strict=True), color=colors[model], linewidth=0.8, zorder=0)
            n = (
                by.loc[(model, cell, "median_r"), "n_genes"]
                if (model, cell, "median_r") in by.index
                else 0
            )
            labels.append(
                f"{shown_as[model]}\n(n={int(n)} genes)"
                if points
                else f"{shown_as[model]}\n(not evaluated)"
            )
        ax.axhline(0.0, color="0.3", linestyle="--", linewidth=0.8)
        ax.set_xticks(range(len(models)))
        ax.set_xticklabels(labels, fontsize=7, rotation=30 if len(models) > 3 else 0)
        ax.set_xlim(-0.6, len(models) - 0.4)
        ax.set_ylim(-1.05, 1.05)
        ax.set_yticks(_R_TICKS)
        ax.set_title(_cell_title(cell), fontsize=9)
        ax.set_xlabel("model")
    axes[0].set_ylabel("Pearson r (unitless)")
    handles = [
        Line2D([], [], marker=m, color="0.4", markeredgecolor="black", linestyle="", label=lab)
        for _, m, lab in _CONTRAST
    ]
    fig.legend(handles=handles, loc="outside lower center", ncol=2, frameon=False, fontsize=8)
    return _save(fig, path, dpi)


#: Colour and marker per ALT dosage of the lead variant (Okabe-Ito; shapes for redundancy).
_DOSAGE_STYLE = {0: ("#0072B2", "o"), 1: ("#E69F00", "s"), 2: ("#CC79A7", "^")}
_EXAMPLE_CELLS = (
    cell_label("heldout", "heldout"),
    cell_label("train", "heldout"),
    cell_label("heldout", "train"),
    cell_label("train", "train"),
)


def _example_genes(
    r: pd.DataFrame, model: str, n_best: int, n_worst: int
) -> tuple[str | None, list[tuple[str, str, float]]]:
    """Cell and (label, gene, r) of the best and worst genes of ``model`` (held-out cells first)."""
    for cell in _EXAMPLE_CELLS:
        sub = r.loc[(r["model"] == model) & (r["cell"] == cell)].dropna(subset=["value"])
        if sub.empty:
            continue
        sub = sub.sort_values(["value", "gene"], ascending=[False, True], kind="stable")
        best = sub.head(n_best)
        rest = sub.iloc[len(best) :]
        worst = rest.tail(n_worst).iloc[::-1]
        picks = [
            (f"best {i + 1}", g, v)
            for i, (g, v) in enumerate(zip(best["gene"], best["value"], strict=True))
        ]
        picks += [
            (f"worst {i + 1}", g, v)
            for i, (g, v) in enumerate(zip(worst["gene"], worst["value"], strict=True))
        ]
        return cell, picks
    return None, []


def plot_gene_examples(
    predictions: pd.DataFrame,
    metrics: pd.DataFrame,
    dosages: pd.DataFrame | None,
    path: str | PathLike[str],
    n_best: int = 2,
    n_worst: int = 2,
    observed_units: str = "normalized",
    dpi: int = 150,
    training: pd.DataFrame | None = None,
    phenotype: str = "expression",
) -> Figure:
    """Predicted vs observed expression per individual for each model's best and worst genes.

    One row per model, one column per example gene: the ``n_best`` genes with the highest and
    the ``n_worst`` with the lowest per-gene Pearson r in the model's most honest cell present
    (held-out genes x held-out individuals, then training genes x held-out individuals, then
    the training-individual cells). Each point is one individual of that cell, coloured (and
    shaped) by the ALT dosage of the gene's lead eQTL variant, so that a model that only
    follows the lead variant shows three vertical clusters and a model with the wrong
    direction orders them backwards.

    Parameters
    ----------
    predictions : pandas.DataFrame
        Predictions table (:data:`ps2f.schema.PREDICTION_COLUMNS`).
    metrics : pandas.DataFrame
        Metrics table (:data:`ps2f.schema.METRIC_COLUMNS`), for the per-gene ``pearson_r``.
    dosages : pandas.DataFrame or None
        Lead-variant dosage table (``gene``, ``variant_id``, ``individual``, ``dosage``, from
        :func:`ps2f.evaluation.lead_eqtls`); None or a gene without a lead draws grey points.
    path : str or path-like
        File to write, PNG or SVG by its suffix.
    n_best, n_worst : int, default 2
        Genes per model from the top and the bottom of the r ranking.
    observed_units : str, default "normalized"
        Units of the observed expression, for the x-axis label (e.g. "log1p RPKM").
    dpi : int, default 150
        Resolution of a PNG.
    training : pandas.DataFrame, optional
        Training table: models that did not converge are labelled so (:func:`model_labels`).
    phenotype : str, default "expression"
        What is observed (the phenotype modality), for the x-axis label.

    Returns
    -------
    matplotlib.figure.Figure
        The figure written to ``path``.

    Raises
    ------
    ValueError
        If a table lacks its columns.
    """
    from ps2f.schema import PREDICTION_COLUMNS

    _check_columns(predictions, PREDICTION_COLUMNS, "predictions table")
    r = _per_gene_r(metrics)
    models = sorted(r["model"].unique())
    shown_as = model_labels(models, training)
    n_cols = max(1, n_best + n_worst)
    fig = Figure(figsize=(2.9 * n_cols, 2.7 * max(1, len(models)) + 0.5), layout="constrained")
    axes = fig.subplots(max(1, len(models)), n_cols, squeeze=False)
    if not models:
        _message(axes[0, 0], "no per-gene pearson_r in the metrics table")
        return _save(fig, path, dpi)
    pred = predictions.loc[:, list(PREDICTION_COLUMNS)].copy()
    pred["cell"] = [
        cell_label(g, i) for g, i in zip(pred["gene_set"], pred["individual_set"], strict=True)
    ]
    dose = None
    if dosages is not None and len(dosages):
        _check_columns(dosages, ("gene", "variant_id", "individual", "dosage"), "dosage table")
        dose = dosages.loc[:, ["gene", "variant_id", "individual", "dosage"]]
    for i, model in enumerate(models):
        cell, picks = _example_genes(r, model, n_best, n_worst)
        for j in range(n_cols):
            ax = axes[i, j]
            if j >= len(picks):
                _message(ax, f"{shown_as[model]}: fewer than {j + 1} genes with a defined r")
                continue
            label, gene, rv = picks[j]
            pts = pred.loc[
                (pred["model"] == model) & (pred["cell"] == cell) & (pred["gene"] == gene)
            ]
            pts = pts.loc[np.isfinite(pts["observed"]) & np.isfinite(pts["predicted"])]
            variant = None
            if dose is not None:
                pts = pts.merge(dose, on=["gene", "individual"], how="left")
                ids = pts["variant_id"].dropna()
                variant = str(ids.iloc[0]) if len(ids) else None
            if "dosage" not in pts.columns:
                pts = pts.assign(dosage=np.nan)
            grey = pts["dosage"].isna()
            ax.scatter(pts.loc[grey, "observed"], pts.loc[grey, "predicted"], s=10, color="0.6",
                       marker="x", linewidths=0.8)  # fmt: skip
            for d, (color, marker) in _DOSAGE_STYLE.items():
                sel = pts.loc[pts["dosage"] == d]
                ax.scatter(sel["observed"], sel["predicted"], s=14, color=color, marker=marker,
                           edgecolors="black", linewidths=0.3, alpha=0.85)  # fmt: skip
            ax.set_title(f"{label}: {gene}\nr = {rv:.2f}, n = {len(pts)} individuals", fontsize=8)
            lead = f"lead: {variant}" if variant else "no lead eQTL"
            ax.text(0.02, 0.02, lead, transform=ax.transAxes, fontsize=6, ha="left", va="bottom",
                    color="0.25")  # fmt: skip
            ax.tick_params(labelsize=7)
            ax.ticklabel_format(axis="both", style="plain", useOffset=False)
            ax.set_xlabel(f"observed {phenotype} ({observed_units})", fontsize=7)
            if j == 0:
                ax.set_ylabel(
                    f"{shown_as[model]}\n{_cell_title(cell)}\npredicted (model units)", fontsize=7
                )
            else:
                ax.set_ylabel("predicted (model units)", fontsize=7)
    handles = [
        Line2D([], [], marker=m, color=c, markeredgecolor="black", linestyle="",
               label=f"lead-variant ALT dosage {d}")
        for d, (c, m) in _DOSAGE_STYLE.items()
    ]  # fmt: skip
    handles.append(Line2D([], [], marker="x", color="0.6", linestyle="", label="no lead eQTL"))
    fig.legend(handles=handles, loc="outside upper center", ncol=4, frameon=False, fontsize=8)
    return _save(fig, path, dpi)


#: Validation series of a training history: column -> (legend label, axis: "r" or "mse").
_VALIDATION_SERIES = {
    "val_median_r": ("median r, fit + validation genes\n(p-model's early-stopping metric)", "r"),
    "val_median_r_fit_genes": ("median r, fit genes", "r"),
    "val_median_r_validation_genes": ("median r, validation genes\n(unseen in training)", "r"),
    "val_cross_gene_r": ("cross-gene r, validation genes", "r"),
    "val_mse": ("MSE of gene means, validation genes\n(r-model's early-stopping metric)", "mse"),
}
_LOSS_SERIES = {
    "loss": ("total loss", "-"),
    "loss_mean": ("gene-mean MSE", "--"),
    "loss_dev": ("deviation MSE", ":"),
}


def _kept_epoch(history: pd.DataFrame) -> int | None:
    """The epoch whose weights were kept: the last one flagged ``best``, else the last epoch."""
    if history.empty:
        return None
    if "best" in history.columns:
        best = history.loc[history["best"].fillna(0).astype(float) > 0, "epoch"]
        if len(best):
            return int(best.iloc[-1])
    return int(history["epoch"].iloc[-1])


def plot_learning_curves(
    histories: Mapping[str, pd.DataFrame], path: str | PathLike[str], dpi: int = 150
) -> Figure:
    """Training loss and validation metrics per epoch, one row per trained model.

    Left panel: the training loss per epoch (total, and for the p-model its gene-mean and
    deviation MSE terms; log scale when positive). Right panel: the validation metrics per
    epoch: for the p-model the median per-gene r across the validation individuals over all
    training genes (the early-stopping metric) and separately over fit genes and validation
    genes (genes never trained on: the unseen-gene signal during training); for the r-model
    the MSE of the validation genes' means (its early-stopping metric, right axis) and their
    cross-gene r. A dotted vertical line marks the kept (best) epoch. The row title gives the
    training status from the last row's ``stopped_by`` (:func:`ps2f.convergence.status_label`):
    "not converged" when a ceiling ended training.

    Parameters
    ----------
    histories : mapping of str to pandas.DataFrame
        Model name -> its history table (``models/<model>.history.tsv``: ``epoch``, ``loss``,
        optional ``loss_mean``, ``loss_dev``, validation columns ``val_*``, ``best``,
        ``stopped_by``). A history without validation columns gets a right panel that says so.
    path : str or path-like
        File to write, PNG or SVG by its suffix.
    dpi : int, default 150
        Resolution of a PNG.

    Returns
    -------
    matplotlib.figure.Figure
        The figure written to ``path``.

    Raises
    ------
    ValueError
        If a history lacks ``epoch`` or ``loss``.
    """
    models = sorted(histories)
    colors = model_colors(models)
    fig = Figure(figsize=(11.0, 3.4 * max(1, len(models)) + 0.3), layout="constrained")
    axes = fig.subplots(max(1, len(models)), 2, squeeze=False)
    if not models:
        _message(axes[0, 0], "no training history")
        axes[0, 1].set_axis_off()
        return _save(fig, path, dpi)
    for row, model in enumerate(models):
        hist = histories[model]
        _check_columns(hist, ("epoch", "loss"), f"history of {model}")
        hist = hist.sort_values("epoch")
        epoch = hist["epoch"].to_numpy(float)
        stop = None
        if "stopped_by" in hist.columns and hist["stopped_by"].notna().any():
            stop = str(hist["stopped_by"].dropna().iloc[-1])
        status = status_label(stop) if stop is not None else "training status not recorded"
        kept = _kept_epoch(hist)
        ax_loss, ax_val = axes[row]
        for ax in (ax_loss, ax_val):
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        for col, (label, style) in _LOSS_SERIES.items():
            if col in hist.columns and hist[col].abs().sum() > 0:
                ax_loss.plot(epoch, hist[col], style, color=colors[model], label=label,
                             marker="o", markersize=3)  # fmt: skip
        if (hist["loss"] > 0).all():
            ax_loss.set_yscale("log")
        ax_loss.set_xlabel("epoch")
        ax_loss.set_ylabel("training loss (MSE, log scale)", fontsize=8)
        ax_loss.legend(fontsize=7, frameon=False)
        title = f"{model}: {status}"
        if kept is not None:
            title += f"; kept epoch {kept} of {int(epoch[-1])}"
        ax_loss.set_title(title, fontsize=9, loc="left")
        series = [c for c in _VALIDATION_SERIES if c in hist.columns and hist[c].notna().any()]
        if not series:
            _message(ax_val, "no validation metric: every epoch ran, the last was kept\n"
                     "(convergence unknown)")  # fmt: skip
        else:
            r_cols = [c for c in series if _VALIDATION_SERIES[c][1] == "r"]
            mse_cols = [c for c in series if _VALIDATION_SERIES[c][1] == "mse"]
            ax_r = ax_val
            ax_m = ax_val.twinx() if (r_cols and mse_cols) else ax_val
            styles = ("-", "--", ":", "-.")
            handles = []
            for k, col in enumerate(r_cols):
                (line,) = ax_r.plot(epoch, hist[col], styles[k % 4], color=colors[model],
                                    marker="o", markersize=3, label=_VALIDATION_SERIES[col][0])  # fmt: skip
                handles.append(line)
            for col in mse_cols:
                (line,) = ax_m.plot(epoch, hist[col], "-", color="0.35", marker="s",
                                    markersize=3, label=_VALIDATION_SERIES[col][0])  # fmt: skip
                handles.append(line)
            if r_cols:
                ax_r.axhline(0.0, color="0.6", linewidth=0.6)
                ax_r.set_ylabel("validation r (unitless)", fontsize=8)
            if mse_cols:
                ax_m.set_ylabel("validation MSE (expression units²)", fontsize=8)
            ax_val.legend(handles=handles, fontsize=7, frameon=False, loc="best")
        ax_val.set_xlabel("epoch")
        ax_val.set_title("validation, after each epoch", fontsize=9, loc="left")
        for ax in (ax_loss, ax_val):
            if kept is not None:
                ax.axvline(kept, color="black", linestyle=":", linewidth=1.0)
    return _save(fig, path, dpi)


# categories of the window-coverage figure: (label, colour, marker)
_COVERAGE_STYLE: tuple[tuple[str, str, str], ...] = (
    ("eGene, lead eQTL inside the window", "#0072B2", "o"),
    ("eGene, lead eQTL outside the window", "#D55E00", "s"),
    ("not an eGene", "0.65", "."),
)


def _coverage_category(inside: pd.Series, egene: pd.Series) -> np.ndarray:
    """Index into :data:`_COVERAGE_STYLE` of each gene."""
    eg = egene.fillna(False).to_numpy(bool)
    ins = inside.astype("boolean").fillna(False).to_numpy(bool)
    return np.where(eg & ins, 0, np.where(eg, 1, 2))


def plot_window_coverage(
    metrics: pd.DataFrame,
    coverage: pd.DataFrame,
    path: str | PathLike[str],
    comparator: str = "elastic_net",
    dpi: int = 150,
    training: pd.DataFrame | None = None,
) -> Figure:
    """Tell "cannot see" from "did not learn": a sequence model's r vs the ElasticNet's, by window coverage.

    One panel per (sequence model of ``coverage``, cell with held-out individuals where both it
    and the comparator were evaluated): each point is a gene, x the comparator's per-gene r, y
    the sequence model's, coloured by whether the gene is an eGene whose lead cis-eQTL lies
    inside the model's window (blue), an eGene whose lead lies outside it (vermillion: the
    model cannot see that signal), or not an eGene (grey). Blue genes far below the diagonal
    are "did not learn"; vermillion genes there are "cannot see". Each panel's box gives, per
    colour, the number of genes and the median r of both models, and the median ElasticNet
    share in the window (``elastic_net_share_in_window``) of the panel's genes.

    Parameters
    ----------
    metrics : pandas.DataFrame
        Metrics table (:data:`ps2f.schema.METRIC_COLUMNS`); its per-gene ``pearson_r`` rows are
        used.
    coverage : pandas.DataFrame
        Window-coverage table (:data:`ps2f.evaluation.coverage.COVERAGE_COLUMNS`).
    path : str or path-like
        PNG or SVG file to write (parent folders are created).
    comparator : str, default "elastic_net"
        Model on the x axis. When it, or every sequence model, is absent, the figure is one
        panel that says so.
    dpi : int, default 150
        Resolution of the PNG.
    training : pandas.DataFrame, optional
        Training table: models that did not converge are labelled so (:func:`model_labels`).

    Returns
    -------
    matplotlib.figure.Figure
        The figure written to ``path``.

    Raises
    ------
    ValueError
        If a column of :data:`ps2f.schema.METRIC_COLUMNS` is missing.
    """
    r = _per_gene_r(metrics)
    cov = coverage.astype({"model": str, "gene": str})
    seq_models = [m for m in dict.fromkeys(cov["model"]) if m in set(r["model"])]
    heldout_cells = {
        cell_label(g, i)
        for g in ("train", "heldout")
        for i in ("heldout", HELDOUT_POPULATION, EXTERNAL)
    }
    cells = [c for c in _present_cells(r["cell"]) if c in heldout_cells]
    cells = [c for c in cells if c in set(r.loc[r["model"] == comparator, "cell"])]
    problem = None
    if comparator not in set(r["model"]):
        problem = f"comparator '{comparator}' is not in the metrics table"
    elif not seq_models:
        problem = "no sequence model of the window-coverage table is in the metrics table"
    elif not cells:
        problem = f"no cell with held-out individuals where '{comparator}' was evaluated"
    if problem is not None:
        fig = Figure(figsize=(6, 3), layout="constrained")
        _message(fig.subplots(), problem)
        return _save(fig, path, dpi)

    shown_as = model_labels([*seq_models, comparator], training)
    wide = r.pivot(index=["cell", "gene"], columns="model", values="value")
    fig = Figure(figsize=(3.9 * len(cells), 4.0 * len(seq_models) + 0.4), layout="constrained")
    axes = fig.subplots(len(seq_models), len(cells), squeeze=False)
    for i, model in enumerate(seq_models):
        mcov = cov.loc[cov["model"] == model].set_index("gene")
        window = int(mcov["window_bp"].iloc[0]) if len(mcov) else 0
        for j, cell in enumerate(cells):
            ax = axes[i, j]
            ax.set_title(f"{shown_as[model]} ({window:,}-bp window)\n{_cell_title(cell)}", fontsize=9)
            tab = wide.loc[cell]
            if model not in tab.columns:
                _message(ax, f"{model} not evaluated in this cell")
                continue
            pair = tab[[comparator, model]].dropna()
            pair = pair.loc[pair.index.isin(mcov.index)]
            if pair.empty:
                _message(ax, "no gene with r defined for both models")
                continue
            gcov = mcov.loc[pair.index]
            cat = _coverage_category(gcov["lead_eqtl_in_window"], gcov["egene"])
            x = pair[comparator].to_numpy()
            y = pair[model].to_numpy()
            _r_vs_r_axes(ax, shown_as[comparator], shown_as[model])
            lines = []
            for k in (2, 1, 0):  # grey first, so the eGenes are drawn on top
                label, color, marker = _COVERAGE_STYLE[k]
                sel = cat == k
                if sel.any():
                    ax.scatter(x[sel], y[sel], s=14, color=color, marker=marker, alpha=0.8,
                               linewidths=0)  # fmt: skip
            for k, name in ((0, "inside"), (1, "outside"), (2, "not eGene")):
                sel = cat == k
                if sel.any():
                    lines.append(
                        f"{name}: n={int(sel.sum())}, median r "
                        f"{np.median(y[sel]):.2f} (EN {np.median(x[sel]):.2f})"
                    )
            share = gcov["elastic_net_share_in_window"].to_numpy(np.float64)
            if np.isfinite(share).any():
                lines.append(f"median EN share in window: {np.nanmedian(share):.2f}")
            ax.text(
                0.03, 0.97, "\n".join(lines), transform=ax.transAxes, ha="left", va="top",
                fontsize=7, bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none"},
            )  # fmt: skip
    handles = [
        Line2D([], [], marker=m, color=c, linestyle="", label=lab) for lab, c, m in _COVERAGE_STYLE
    ]
    fig.legend(handles=handles, loc="outside upper center", ncol=3, frameon=False, fontsize=8)
    return _save(fig, path, dpi)


def plot_cross_tissue(table: pd.DataFrame, path: str | PathLike[str] | None = None,
                      dpi: int = 150) -> Figure:  # fmt: skip
    """Each model's median per-gene r per tissue: one panel per cell, tissues along x.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`ps2f.evaluation.tissues.cross_tissue_table`.
    path : str or path-like, optional
        PNG (or ``.svg``) file to write; None: not written.
    dpi : int, default 150
        Resolution of a PNG.

    Returns
    -------
    matplotlib.figure.Figure
        Per cell (held-out individuals of training genes, of held-out genes) a panel: for
        each tissue and model its median r (a dot, one colour per model, side by side within
        the tissue) with its bootstrap 95% CI (a bar); models without the cell are left out.

    Raises
    ------
    ValueError
        If a column of :data:`ps2f.evaluation.tissues.CROSS_TISSUE_COLUMNS` is missing.
    """
    from ps2f.evaluation.tissues import CROSS_TISSUE_CELLS, CROSS_TISSUE_COLUMNS

    _check_columns(table, CROSS_TISSUE_COLUMNS, "cross-tissue table")
    tissues = list(pd.unique(table["tissue"].astype(str)))
    models = sorted(table["model"].astype(str).unique())
    colors = model_colors(models)
    width = max(4.0, 0.9 * len(tissues) * max(1, len(models)) ** 0.5 + 2.0)
    fig = Figure(figsize=(width * len(CROSS_TISSUE_CELLS), 4.4), layout="constrained")
    axes = fig.subplots(1, len(CROSS_TISSUE_CELLS), sharey=True, squeeze=False)[0]
    step = 0.8 / max(1, len(models))
    for ax, (cell, suffix) in zip(axes, CROSS_TISSUE_CELLS, strict=True):
        for k, model in enumerate(models):
            sub = table.loc[table["model"].astype(str) == model].set_index("tissue")
            x = np.arange(len(tissues)) - 0.4 + step * (k + 0.5)
            est = sub[f"median_r_{suffix}"].reindex(tissues).to_numpy(np.float64)
            lo = sub[f"ci_low_{suffix}"].reindex(tissues).to_numpy(np.float64)
            hi = sub[f"ci_high_{suffix}"].reindex(tissues).to_numpy(np.float64)
            ok = np.isfinite(est)
            if not ok.any():
                continue
            err = np.vstack([est - lo, hi - est])[:, ok]
            ax.errorbar(
                x[ok], est[ok], yerr=np.where(np.isfinite(err), err, 0.0), fmt="o",
                color=colors[model], label=model, capsize=2, markersize=5,
            )  # fmt: skip
        ax.axhline(0.0, color="0.3", linestyle="--", linewidth=0.8, zorder=1)
        ax.set_xticks(range(len(tissues)))
        ax.set_xticklabels(tissues, rotation=30 if len(tissues) > 4 else 0)
        ax.set_xlim(-0.6, len(tissues) - 0.4)
        ax.set_ylim(-1.05, 1.05)
        ax.set_yticks(_R_TICKS)
        ax.set_title(_cell_title(cell), fontsize=10)
        ax.set_xlabel("tissue")
    axes[0].set_ylabel("median per-gene Pearson r (unitless)\n[bootstrap 95% CI]")
    handles = [Line2D([], [], marker="o", linestyle="", color=colors[m], label=m) for m in models]
    axes[-1].legend(handles=handles, title="model", loc="upper left", bbox_to_anchor=(1.02, 1.0),
                    fontsize=8)  # fmt: skip
    if path is not None:
        _save(fig, path, dpi)
    return fig
