"""The answer at a glance: the table on the report's landing page (no torch).

:func:`headline_table` condenses the summary table (:func:`ps2f.evaluation.summarize`) to one
row per model: the median per-gene r, the gene-level direction accuracy and the median fraction
of the cis-heritability ceiling (:mod:`ps2f.evaluation.heritability`) with their 95% CIs on
held-out individuals, of training genes and of held-out genes, the model named with its
training status (:mod:`ps2f.convergence`); the full table is one click away.
:func:`landing_rst` writes it, with the training table, as reStructuredText that the report's
workflow description (``workflow/report/workflow.rst``) includes, so the first page of
``snakemake --report`` shows the answer, not only links to it.
"""

from __future__ import annotations

import math
import re

import pandas as pd

from ps2f.convergence import NO_EPOCHS, legend_suffix
from ps2f.schema import EXTERNAL, HELDOUT_POPULATION, SUMMARY_COLUMNS, cell_label

__all__ = [
    "HEADLINE_CELLS",
    "POPULATION_CELLS",
    "HEADLINE_COLUMNS",
    "headline_table",
    "landing_rst",
]

#: The cells on the landing page: held-out individuals, on training and on held-out genes.
HEADLINE_CELLS: tuple[tuple[str, str], ...] = (
    (cell_label("train", "heldout"), "training genes"),
    (cell_label("heldout", "heldout"), "held-out genes"),
)
#: Shown after those when the run holds populations out (``split.population``) or has an
#: external test cohort (``external_cohort``).
POPULATION_CELLS: tuple[tuple[str, str], ...] = (
    (cell_label("train", HELDOUT_POPULATION), "training genes, held-out population"),
    (cell_label("heldout", HELDOUT_POPULATION), "held-out genes, held-out population"),
    # an external test cohort (``external_cohort``): beside cohort A's held-out cells
    (cell_label("train", EXTERNAL), "training genes, external cohort"),
    (cell_label("heldout", EXTERNAL), "held-out genes, external cohort"),
)
#: Statistic of each value column, by its header prefix.
_SHOWN = (
    ("median r", "median_r"),
    ("direction accuracy", "direction_accuracy_nominal"),
    ("fraction of the cis-h2 ceiling", "median_fraction_of_ceiling"),
)
#: Columns of :func:`headline_table`.
HEADLINE_COLUMNS: tuple[str, ...] = (
    "model",
    *(f"{what}, {genes}" for what, _ in _SHOWN for _, genes in HEADLINE_CELLS),
)


def _estimate_text(row: pd.Series | None) -> str:
    """``"0.72 [0.69, 0.75] (n=30)"``; ``"–"`` when undefined or absent."""
    if row is None or not math.isfinite(float(row["estimate"])):
        return "–"
    text = f"{row['estimate']:.2f}"
    if math.isfinite(float(row["ci_low"])) and math.isfinite(float(row["ci_high"])):
        text += f" [{row['ci_low']:.2f}, {row['ci_high']:.2f}]"
    return f"{text} (n={int(row['n_genes'])})"


def headline_table(summary: pd.DataFrame, training: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per model: median r and direction accuracy on held-out individuals, as text.

    Parameters
    ----------
    summary : pandas.DataFrame
        Summary table (:data:`ps2f.schema.SUMMARY_COLUMNS`).
    training : pandas.DataFrame, optional
        Training table (:func:`ps2f.convergence.training_table`); a model that did not converge
        is named ``"p_model (not converged)"``.

    Returns
    -------
    pandas.DataFrame
        :data:`HEADLINE_COLUMNS`, all str, one row per model (sorted by name), and, when the
        summary has cells of a held-out population or an external cohort, one more column per
        statistic and cell of :data:`POPULATION_CELLS`: for the cells of
        :data:`HEADLINE_CELLS` (held-out individuals of training genes and of held-out genes)
        the ``median_r``, the gene-level
        ``direction_accuracy_nominal`` (among genes with nominal p < alpha, the fraction with
        r > 0) and the ``median_fraction_of_ceiling`` (r / sqrt(cis-h2)), each as
        ``"estimate [ci_low, ci_high] (n=genes)"``; ``"–"`` when undefined or not evaluated
        (e.g. a baseline fitted on training genes only).

    Raises
    ------
    ValueError
        If a column of :data:`ps2f.schema.SUMMARY_COLUMNS` is missing.
    """
    missing = [c for c in SUMMARY_COLUMNS if c not in summary.columns]
    if missing:
        raise ValueError(f"summary table: missing columns {missing}")
    status = {}
    if training is not None:
        status = dict(zip(training["model"].astype(str), training["status"], strict=True))
    by = summary.assign(model=summary["model"].astype(str), cell=summary["cell"].astype(str))
    present = set(by["cell"])
    shown = [*HEADLINE_CELLS, *(c for c in POPULATION_CELLS if c[0] in present)]
    columns = ["model", *(f"{what}, {genes}" for what, _ in _SHOWN for _, genes in shown)]
    by = by.set_index(["model", "cell", "statistic"])
    rows = []
    for model in sorted(by.index.get_level_values("model").unique()):
        row = {"model": model + legend_suffix(status.get(model))}
        for what, stat in _SHOWN:
            for cell, genes in shown:
                key = (model, cell, stat)
                row[f"{what}, {genes}"] = _estimate_text(by.loc[key] if key in by.index else None)
        rows.append(row)
    return pd.DataFrame(rows, columns=columns, dtype=object)


def _rst(text: object) -> str:
    """Escape reStructuredText inline markup: asterisks, backquotes, underscores, bars, backslashes."""
    return re.sub(r"([\\*`_|])", r"\\\1", str(text))


def _list_table(frame: pd.DataFrame) -> list[str]:
    """``frame`` (header and rows) as an rst ``list-table``, every value escaped."""
    lines = [".. list-table::", "   :header-rows: 1", ""]
    for values in [list(frame.columns), *frame.astype(str).to_numpy().tolist()]:
        for j, value in enumerate(values):
            lines.append(f"   {'*' if j == 0 else ' '} - {_rst(value)}")
    return [*lines, ""]


def _training_text(training: pd.DataFrame) -> pd.DataFrame:
    """The trained models of ``training`` as (model, status, epochs run / ceiling, kept epoch)."""
    trained = training.loc[training["status"] != NO_EPOCHS]
    rows = []
    for _, t in trained.iterrows():
        ceiling = f"{int(t['epochs_run'])} of ≤ {int(t['max_epochs'])}"
        if pd.notna(t["max_minutes"]):
            ceiling += f", ≤ {float(t['max_minutes']):g} min"
        patience = "none" if pd.isna(t["patience"]) else str(int(t["patience"]))
        rows.append(
            {
                "model": t["model"],
                "training": t["status"],
                "epochs run (ceilings)": ceiling,
                "patience": patience,
                "kept epoch": "–" if pd.isna(t["best_epoch"]) else str(int(t["best_epoch"])),
                "minutes": f"{float(t['minutes']):.1f}",
            }
        )
    return pd.DataFrame(
        rows,
        columns=["model", "training", "epochs run (ceilings)", "patience", "kept epoch", "minutes"],
    )


def landing_rst(
    summary: pd.DataFrame, training: pd.DataFrame, modality: str = "expression"
) -> str:
    """The landing page's results section, as reStructuredText.

    Parameters
    ----------
    summary : pandas.DataFrame
        Summary table (:data:`ps2f.schema.SUMMARY_COLUMNS`).
    training : pandas.DataFrame
        Training table (:func:`ps2f.convergence.training_table`).
    modality : str, default "expression"
        The phenotype modality (config ``phenotype.modality``), named in the section title;
        other than expression, a sentence says that each "gene" of the tables is one
        phenotype (a CpG site, a peak or an intron).

    Returns
    -------
    str
        A section "The answer (<modality>)" with the headline table (:func:`headline_table`) and the
        training status of every model trained by epochs, plus a sentence naming the models
        that did not converge. Text is escaped; the file is included verbatim by
        ``workflow/report/workflow.rst``.

    Raises
    ------
    ValueError
        If a column of :data:`ps2f.schema.SUMMARY_COLUMNS` is missing.
    """
    head = headline_table(summary, training)
    trained = _training_text(training)
    title = f"The answer ({modality})"
    what = (
        ""
        if modality == "expression"
        else f" Phenotype modality **{_rst(modality)}**: each 'gene' is one {_rst(modality)} "
        "phenotype (a row of the phenotype BED), its window centred on the row's anchor."
    )
    lines = [
        title,
        "-" * len(title),
        "",
        "On **held-out individuals**: the median per-gene Pearson r (predicted vs observed) "
        "the direction accuracy (fraction of nominally significant genes with r > 0) and the "
        "median fraction of the ceiling (r / sqrt(cis-h2), genes with cis-h2 > 0: the share of "
        "what the cis genotypes could explain), with 95% bootstrap CIs over genes and the number "
        f"of genes.{what}",
        "",
        *_list_table(head),
    ]
    if len(trained):
        not_converged = trained.loc[trained["training"] != "converged", "model"].tolist()
        lines += [
            "**Training.** Converged: early stopping ended training. Not converged: a ceiling "
            "(epochs or minutes) did, and the numbers may understate the model.",
            "",
        ]
        if not_converged:
            names = ", ".join(f"**{_rst(m)}**" for m in not_converged)
            lines += [f"Not converged or unknown: {names}.", ""]
        lines += _list_table(trained)
    return "\n".join(lines) + "\n"
