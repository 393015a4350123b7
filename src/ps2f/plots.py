"""Figures from the metrics and summary tables (never from predictions or models).

Each function takes a table of :mod:`ps2f.schema` layout, writes one PNG and returns the
:class:`matplotlib.figure.Figure`. Figures are built with the object API on the Agg canvas
(no ``pyplot`` state, no backend switch), so they work headless and in parallel jobs. Models
keep one colour from the Okabe–Ito palette (Okabe & Ito 2008, colour-blind safe) across all
figures: colours are assigned in sorted model-name order.

Every figure copes with 1 to 8 models (colours repeat beyond 8), with cells missing from the
table, and with a model whose metrics are all NaN (drawn and annotated "no defined r").
"""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ps2f.evaluation.metrics import ALL_GENES
from ps2f.schema import CELLS, METRIC_COLUMNS, SUMMARY_COLUMNS, cell_label

__all__ = [
    "OKABE_ITO",
    "model_colors",
    "plot_r_distributions",
    "plot_vs_reference",
    "plot_direction_accuracy",
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


def _cell_title(cell: str) -> str:
    """Human label of a cell, e.g. ``"held-out genes | training individuals"``."""
    return (
        cell.replace("heldout_", "held-out ")
        .replace("train_", "training ")
        .replace("|", " | ")
        .replace("_", " ")
    )


def _present_cells(cells: pd.Series) -> list[str]:
    """Cells present, in :data:`ps2f.schema.CELLS` order (unknown labels last, sorted)."""
    present = set(cells.astype(str))
    return [c for c in CELLS if c in present] + sorted(present - set(CELLS))


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


def _save(fig: Figure, path: str | PathLike[str], dpi: int) -> Figure:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    # constrained layout places the panels; the tight box also keeps labels of equal-aspect
    # panels and outside legends inside the image
    fig.savefig(out, dpi=dpi, format="png", bbox_inches="tight", pad_inches=0.08)
    return fig


def plot_r_distributions(
    metrics: pd.DataFrame, path: str | PathLike[str], dpi: int = 150, seed: int = 0
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
                labels.append(f"{model}\n(not evaluated)")
                continue
            label = f"n={vals.size}" if vals.size == total else f"n={vals.size} of {total}"
            labels.append(f"{model}\n({label} genes)")
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
    """Annotation for a reference scatter: r across genes and how many genes lie above y = x."""
    n = x.size
    above = int((y > x).sum())
    if n >= 3 and np.ptp(x) > 0 and np.ptp(y) > 0:
        rr = float(np.corrcoef(x, y)[0, 1])
        head = f"r across genes = {rr:.2f}"
    else:
        head = "r across genes: n/a"
    return f"{head}\nn = {n} genes; above diagonal: {above}"


def plot_vs_reference(
    metrics: pd.DataFrame,
    path: str | PathLike[str],
    reference_model: str = "elastic_net",
    dpi: int = 150,
) -> Figure:
    """Scatter each model's per-gene r against a reference model's r on the same genes.

    One panel per (held-out-individuals cell present, other model): x is the reference model's
    per-gene Pearson r, y the other model's, over the genes where both are defined; the
    diagonal y = x separates genes where the model beats the reference (above) from those where
    it does not. Each panel is annotated with the Pearson r across genes of the two r's and the
    number of genes above the diagonal. Only cells with held-out individuals are drawn (r on
    training individuals of a fitted baseline is in-sample).

    Parameters
    ----------
    metrics : pandas.DataFrame
        Metrics table (:data:`ps2f.schema.METRIC_COLUMNS`); its ``pearson_r`` rows are used.
    path : str or path-like
        PNG file to write (parent folders are created).
    reference_model : str, default "elastic_net"
        Model on the x axis. When it is absent, or there is no other model or no held-out
        individuals cell, the figure is a single panel that says so.
    dpi : int, default 150
        Resolution of the PNG.

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
    others = [m for m in models if m != reference_model]
    heldout_cells = {cell_label(g, "heldout") for g in ("train", "heldout")}
    cells = [c for c in _present_cells(r["cell"]) if c in heldout_cells]

    problem = None
    if reference_model not in models:
        shown = ", ".join(models) if models else "none"
        problem = (
            f"reference model '{reference_model}' is not in the metrics table\n"
            f"(models present: {shown})"
        )
    elif not others:
        problem = f"only the reference model '{reference_model}' is in the metrics table"
    elif not cells:
        problem = "no cell with held-out individuals in the metrics table"
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
            ax.set_title(f"{model}\n{_cell_title(cell)}", fontsize=9)
            if reference_model not in present or model not in present:
                missing = reference_model if reference_model not in present else model
                _message(ax, f"{missing} not evaluated in this cell")
                continue
            pair = tab[[reference_model, model]].dropna()
            if pair.empty:
                why = "no gene with r defined for both models"
                for name in (model, reference_model):
                    if in_cell.loc[in_cell["model"] == name, "value"].isna().all():
                        why = f"{name}: {_NO_R}\n({why})"
                        break
                _message(ax, why)
                continue
            x = pair[reference_model].to_numpy()
            y = pair[model].to_numpy()
            ax.plot([-1, 1], [-1, 1], color="0.3", linestyle="--", linewidth=0.8)
            ax.axhline(0.0, color="0.7", linewidth=0.6)
            ax.axvline(0.0, color="0.7", linewidth=0.6)
            ax.scatter(x, y, s=8, color=colors[model], alpha=0.7, linewidths=0)
            ax.text(
                0.03, 0.97, _corr_text(x, y), transform=ax.transAxes, ha="left", va="top",
                fontsize=8, bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none"},
            )  # fmt: skip
            ax.set_xlim(-1.05, 1.05)
            ax.set_ylim(-1.05, 1.05)
            ax.set_xticks(_R_TICKS)
            ax.set_yticks(_R_TICKS)
            ax.set_aspect("equal")
            ax.set_xlabel(f"{reference_model} per-gene r (unitless)")
            ax.set_ylabel(f"{model} per-gene r (unitless)")
    return _save(fig, path, dpi)


_DIRECTION_PANELS = (
    ("frac_positive", "fraction of genes with r > 0", _NO_R),
    (
        "direction_accuracy_nominal",
        "direction accuracy: fraction of nominally\nsignificant genes (p < alpha) with r > 0",
        "no significant gene",
    ),
)


def plot_direction_accuracy(
    summary: pd.DataFrame, path: str | PathLike[str], dpi: int = 150
) -> Figure:
    """Bar chart of ``frac_positive`` and ``direction_accuracy_nominal`` per model and cell.

    Two panels (one per statistic); within each, cells present are groups on the x axis and
    models are bars (one colour per model), with the percentile bootstrap CI from ``ci_low``
    and ``ci_high`` as error bars and the number of genes (``n_genes``) above each bar. A dashed
    line at 0.5 marks a coin flip. A NaN estimate is drawn as an empty slot labelled with the
    reason ("no defined r" / "no significant gene").

    Parameters
    ----------
    summary : pandas.DataFrame
        Summary table (:data:`ps2f.schema.SUMMARY_COLUMNS`), e.g. from
        :func:`ps2f.evaluation.summarize`.
    path : str or path-like
        PNG file to write (parent folders are created).
    dpi : int, default 150
        Resolution of the PNG.

    Returns
    -------
    matplotlib.figure.Figure
        The figure written to ``path``.

    Raises
    ------
    ValueError
        If a column of :data:`ps2f.schema.SUMMARY_COLUMNS` is missing.
    """
    _check_columns(summary, SUMMARY_COLUMNS, "summary table")
    tab = summary.loc[:, list(SUMMARY_COLUMNS)].copy()
    for col in ("model", "cell", "statistic"):
        tab[col] = tab[col].astype(str)
    models = sorted(tab["model"].unique())
    colors = model_colors(models)
    wanted = {stat for stat, _, _ in _DIRECTION_PANELS}
    cells = _present_cells(tab.loc[tab["statistic"].isin(wanted), "cell"])
    n_models = max(1, len(models))
    width = max(4.5, len(cells) * (0.35 * n_models + 0.6) + 1.5)
    fig = Figure(figsize=(width, 7.2), layout="constrained")
    axes = fig.subplots(2, 1, squeeze=False)[:, 0]
    bar_w = 0.8 / n_models
    for ax, (stat, ylabel, nan_text) in zip(axes, _DIRECTION_PANELS, strict=True):
        sub = tab.loc[tab["statistic"] == stat].set_index(["model", "cell"])
        ax.set_ylabel(ylabel)
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
                    ax.text(x, 0.02, nan_text, rotation=90, ha="center", va="bottom", fontsize=7)
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
        ax.set_xticklabels([_cell_title(c).replace(" | ", "\n") for c in cells], fontsize=8)
        ax.set_xlim(-0.5, len(cells) - 0.5)
        ax.set_ylim(0.0, 1.18)
        ax.set_yticks(np.linspace(0, 1, 6))
    if models:
        handles = [Patch(facecolor=colors[m], edgecolor="black", label=m) for m in models]
        handles.append(Line2D([], [], color="0.3", linestyle="--", label="coin flip (0.5)"))
        fig.legend(
            handles=handles, loc="outside right upper", frameon=False,
            title="model\n(error bars: percentile\nbootstrap CI over genes)",
        )  # fmt: skip
    return _save(fig, path, dpi)
