"""The evaluation rules and the HTML report, end to end, checked in headless Chromium.

A stub workflow includes the real ``common.smk``, ``evaluate.smk`` and ``report.smk`` and finds
its inputs (phenotype tables, a variant store and four predictions tables, made here from a
small synthetic cohort) already on disk, so only ``lead_eqtl``, ``evaluate`` and ``figures``
run (the whole DAG, training included, is tested in ``test_workflow.py``). The p-model's
predictions carry a training record of a converged run, the r-model's one that the epoch
ceiling ended (not converged), each with a history TSV for the learning curves. Then
``snakemake --report`` builds the one-page report and Chromium loads it: the page renders, its
first page shows the answer (the summary numbers and the convergence status), its menu lists
the result categories, and every figure embedded in it decodes to an image.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO

from ps2f.convergence import training_record, write_predictions
from ps2f.genome.store import VariantStore
from ps2f.io.predictdb import (
    EXTRA_COLUMNS,
    predictdb_var_ids,
    write_covariances,
    write_predictdb,
)
from ps2f.pipeline.chunks import gene_chunks, light_chunks
from ps2f.schema import PREDICTION_COLUMNS

pytestmark = pytest.mark.workflow

NAME = "rep"
FIGURES = (
    "r_distributions",
    "vs_elastic_net",
    "direction_accuracy",
    "cross_gene_contrast",
    "gene_examples",
    "learning_curves",
    "window_coverage",
)
TABLES = (
    "summary.csv",
    "comparisons.csv",
    "lead_eqtl.csv",
    "metrics.parquet",
    "training.csv",
    "nonlinear_genes.csv",
)
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def chromium_binary() -> str | None:
    """Path of a Chromium executable (Debian's ``chromium``), or None."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


def run_chromium(args: list[str], timeout: int = 90) -> subprocess.CompletedProcess:
    """Run headless Chromium with a fresh profile directory; stdout is the page's DOM."""
    exe = chromium_binary()
    assert exe is not None
    with tempfile.TemporaryDirectory(prefix="ps2f-chromium-") as profile:
        cmd = [exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


GENES_PER_CHUNK = 5  # 12 genes: 3 chunks
LIGHT_STAGE_CHUNKS = 2  # the light stages (all models but the ElasticNet, metrics): 2 chunks


def write_inputs(root: Path, seed: int = 0) -> None:
    """A 12-gene x 48-individual cohort: tables, a variant store and four models' predictions."""
    rng = np.random.default_rng(seed)
    run = root / "results" / NAME
    n_genes, n_ind, n_var = 12, 48, 8
    genes = pd.DataFrame(
        {
            "gene": [f"G{g:02d}" for g in range(n_genes)],
            "gene_key": [f"G{g:02d}" for g in range(n_genes)],
            "gene_name": [f"Gene{g}" for g in range(n_genes)],
            "chrom": "c1",
            "strand": "+",
            "tss0": 1000 + 5000 * np.arange(n_genes),
            "s2f": True,
            "gene_set": ["train"] * 8 + ["heldout"] * 4,
        }
    )
    individuals = pd.DataFrame(
        {
            "individual": [f"I{i:03d}" for i in range(n_ind)],
            "individual_set": ["train"] * 36 + ["heldout"] * 12,
        }
    )
    pos = (genes["tss0"].to_numpy()[:, None] + np.linspace(-400, 400, n_var).astype(int)).ravel()
    haps = (rng.uniform(size=(pos.size, n_ind, 2)) < 0.35).astype(np.uint8)
    dose = haps.sum(axis=2).astype(float).reshape(n_genes, n_var, n_ind)
    effect = rng.choice([-1.0, 1.0], size=n_genes) * 0.8
    y = 5 + effect[:, None] * dose[:, 2] + 0.5 * rng.normal(size=(n_genes, n_ind))
    store = VariantStore(
        contig="c1",
        samples=individuals["individual"].to_numpy(),
        pos=pos.astype(np.int64),
        ref_bytes=np.frombuffer(b"A" * pos.size, dtype=np.uint8),
        ref_offsets=np.arange(pos.size + 1, dtype=np.int64),
        alt_bytes=np.frombuffer(b"G" * pos.size, dtype=np.uint8),
        alt_offsets=np.arange(pos.size + 1, dtype=np.int64),
        ids=np.array([f"c1_{p + 1}_A_G" for p in pos]),
        genotypes=np.packbits(haps.reshape(pos.size, 2 * n_ind), axis=1),
    )
    (run / "phenotypes").mkdir(parents=True)
    (run / "variants").mkdir()
    store.save(run / "variants" / "c1.npz")
    genes.to_csv(run / "phenotypes" / "genes.tsv", sep="\t", index=False)
    individuals.to_csv(run / "phenotypes" / "individuals.tsv", sep="\t", index=False)
    gi, ii = np.meshgrid(np.arange(n_genes), np.arange(n_ind), indexing="ij")
    long = pd.DataFrame(
        {
            "gene": genes["gene"].to_numpy()[gi.ravel()],
            "individual": individuals["individual"].to_numpy()[ii.ravel()],
            "observed": y.ravel(),
        }
    )
    long.to_parquet(run / "phenotypes" / "expression.parquet", index=False)
    quality = {"p_model": 0.6, "r_model": 0.1, "elastic_net": 0.9, "random_forest": 0.8}
    (run / "models").mkdir()
    records = {
        "p_model": training_record("early_stopping", epochs_run=9, best_epoch=4, max_epochs=100,
                                   patience=5, max_minutes=None, minutes=1.5),
        "r_model": training_record("epochs", epochs_run=12, best_epoch=12, max_epochs=12,
                                   patience=5, max_minutes=None, minutes=0.2),
    }  # fmt: skip
    for model, record in records.items():
        epochs = np.arange(1, record["epochs_run"] + 1)
        history = pd.DataFrame({"epoch": epochs, "loss": 1.0 / epochs, "best": 0.0})
        if model == "p_model":
            history["val_median_r"] = 0.5 - 0.02 * (epochs - 4) ** 2
            history["val_median_r_validation_genes"] = 0.1 + 0.05 * np.sin(epochs)
        else:
            history["val_mse"] = 1.0 / epochs
        history.loc[history["epoch"] == record["best_epoch"], "best"] = 1.0
        history["stopped_by"] = None
        history.loc[len(history) - 1, "stopped_by"] = record["stopped_by"]
        history.to_csv(run / "models" / f"{model}.history.tsv", sep="\t", index=False)
    # the ElasticNet's PredictDB outputs, read by the window_coverage rule: each training gene
    # weighs its planted variant (the third of its eight, 200 bp upstream of the TSS)
    fitted = genes.loc[genes["gene_set"] == "train", "gene"].to_numpy()
    lead = 8 * np.arange(len(fitted)) + 2
    var_ids = predictdb_var_ids("c1", pos[lead], ["A"] * len(lead), ["G"] * len(lead))
    weights = pd.DataFrame(
        {"gene": fitted, "rsid": var_ids, "varID": var_ids, "ref_allele": "A",
         "eff_allele": "G", "weight": effect[: len(fitted)]}
    )  # fmt: skip
    extra = pd.DataFrame({c: np.nan for c in EXTRA_COLUMNS}, index=range(len(fitted)))
    extra = extra.assign(gene=fitted, genename=fitted, gene_type="protein_coding", alpha=0.5,
                         n_snps_in_window=n_var, **{"n.snps.in.model": 1})  # fmt: skip
    # the baselines' per-gene summaries (read by the nonlinear_genes rule): the forest's
    # out-of-bag r beats the ElasticNet's nested-CV r on every other training gene
    margin = np.where(np.arange(len(fitted)) % 2 == 0, 0.1, -0.1)
    en_summary = pd.DataFrame({"gene": fitted, "rho_avg": 0.5, "note": ""})
    rf_summary = pd.DataFrame({"gene": fitted, "oob_r": 0.5 + margin})
    # each written per gene chunk, as the chunk jobs write them (the gather rules join them);
    # the light stages' (every model but the ElasticNet) per light chunk
    chunks = gene_chunks(genes, GENES_PER_CHUNK)
    light = {
        light_chunk: [g for chunk in members for g in chunks[chunk]]
        for light_chunk, members in light_chunks(chunks, LIGHT_STAGE_CHUNKS).items()
    }
    for model in (*quality, "elastic_net", "random_forest"):
        (run / "chunks" / model).mkdir(parents=True, exist_ok=True)
    for chunk, chunk_genes in chunks.items():
        en = run / "chunks" / "elastic_net" / chunk
        keep = np.isin(fitted, chunk_genes)
        write_predictdb(
            Path(f"{en}.db"),
            weights[keep].reset_index(drop=True),
            extra[keep].reset_index(drop=True),
            n_ind,
            NAME,
        )
        write_covariances(
            Path(f"{en}.covariances.txt.gz"),
            [
                (g, v, v, float(np.var(dose[k, 2])))
                for k, (g, v) in enumerate(zip(fitted, var_ids, strict=True))
                if keep[k]
            ],
        )
        en_summary[keep].to_csv(f"{en}.summary.tsv", sep="\t", index=False)
    for chunk, chunk_genes in light.items():
        rf_summary[rf_summary["gene"].isin(chunk_genes)].to_csv(
            run / "chunks" / "random_forest" / f"{chunk}.summary.tsv", sep="\t", index=False
        )
    for model, q in quality.items():
        keep = genes["gene_set"].to_numpy() == "train" if model.endswith(("net", "forest")) else (
            np.ones(n_genes, dtype=bool)
        )  # fmt: skip
        g = gi[keep].ravel()
        i = ii[keep].ravel()
        pred = q * (y[g, i] - 5) + (1 - q) * rng.normal(size=g.size) + 5
        frame = pd.DataFrame(
            {
                "model": model,
                "gene": genes["gene"].to_numpy()[g],
                "individual": individuals["individual"].to_numpy()[i],
                "gene_set": genes["gene_set"].to_numpy()[g],
                "individual_set": individuals["individual_set"].to_numpy()[i],
                "observed": y[g, i],
                "predicted": pred,
            },
            columns=list(PREDICTION_COLUMNS),
        )
        for chunk, chunk_genes in (chunks if model == "elastic_net" else light).items():
            write_predictions(
                frame[frame["gene"].isin(chunk_genes)].reset_index(drop=True),
                run / "chunks" / model / f"{chunk}.predictions.parquet",
                records.get(model),
            )


STUB_SNAKEFILE = """
configfile: "config.yaml"


include: "{repo}/workflow/rules/common.smk"
include: "{repo}/workflow/rules/evaluate.smk"
include: "{repo}/workflow/rules/gather.smk"
include: "{repo}/workflow/rules/report.smk"


# write_inputs wrote the phenotypes tables: the gene chunks are cut from them
checkpoint phenotypes:
    output:
        **PHENOTYPES,
    shell:
        "echo 'write_inputs writes the phenotypes tables' >&2; exit 1"


rule all:
    input:
        rules.evaluate.output,
        rules.figures.output,
    default_target: True
"""


@pytest.fixture(scope="module")
def report_run(tmp_path_factory) -> Path:
    """Run the evaluation rules on the stub cohort and build the report; return the run dir."""
    root = tmp_path_factory.mktemp("report")
    write_inputs(root)
    config = {
        "name": NAME,
        "contigs": ["c1"],
        "baselines": {"cis_window_bp": 500},
        "evaluate": {"n_boot": 50, "n_permutations": 99},
        "chunks": {"genes_per_chunk": GENES_PER_CHUNK, "light_stage_chunks": LIGHT_STAGE_CHUNKS},
    }
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    (root / "Snakefile").write_text(STUB_SNAKEFILE.format(repo=REPO))
    base = [sys.executable, "-m", "snakemake", "-s", "Snakefile", "--cores", "2"]
    proc = subprocess.run(base, cwd=root, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-4000:]
    report = root / "results" / NAME / "report.html"
    proc = subprocess.run(
        [*base, "--report", str(report)], cwd=root, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return root / "results" / NAME


def _embedded(html: str, var: str) -> dict:
    """The JSON object assigned to ``var`` in one of the report's inline scripts."""
    block = html.index(f'<script id="{var}">')
    start = html.index(f"var {var} = ", block) + len(f"var {var} = ")
    end = html.index(";\n", start)
    return json.loads(html[start:end])


def test_outputs_and_report_contents(report_run):
    ev = report_run / "evaluation"
    summary = pd.read_csv(ev / "summary.csv")
    stats = set(summary["statistic"])
    assert {
        "direction_accuracy_fdr",
        "direction_accuracy_set",
        "direction_accuracy_variant",
    } <= stats
    comparisons = pd.read_csv(ev / "comparisons.csv")
    en = comparisons.query(
        "model == 'r_model' and comparator == 'elastic_net' and statistic == 'median_delta_r'"
    )
    assert len(en) == 6 and (en["estimate"] < 0).all()  # the weak model loses, in all cells:
    nonlinear = pd.read_csv(ev / "nonlinear_genes.csv")
    assert len(nonlinear) > 0 and (nonlinear["margin"] > 0).all()
    top = pd.read_csv(ev / "top_elastic_net_genes.csv")
    assert len(top) > 0 and top["elastic_net_rho_avg"].is_monotonic_decreasing
    assert en["cell"].tolist() == [  # both cells of the training genes, then their gene sets
        "train_genes|train_individuals",
        "train_genes|heldout_individuals",
        "train_genes|train_individuals|nonlinear_genes",
        "train_genes|train_individuals|top_elastic_net_genes",
        "train_genes|heldout_individuals|nonlinear_genes",
        "train_genes|heldout_individuals|top_elastic_net_genes",
    ]
    assert {"direction_odds_ratio_gene", "direction_odds_ratio_variant"} <= set(
        comparisons["statistic"]
    )
    lead = pd.read_csv(ev / "lead_eqtl.csv")
    assert (lead["n_tested"] > 0).all() and (lead["p_bonferroni"] < 0.05).mean() > 0.7
    for fig in FIGURES:
        assert (report_run / "figures" / f"{fig}.png").stat().st_size > 5000
        assert "<svg" in (report_run / "figures" / f"{fig}.svg").read_text()[:500]
    html = (report_run / "report.html").read_text()
    results = _embedded(html, "results")
    names = {Path(k).name for k in results}
    assert {f"{f}.png" for f in FIGURES} | set(TABLES) <= names
    for key, entry in results.items():
        assert entry["caption"].strip(), f"{key} has no caption"
        assert "system-message" not in entry["caption"], f"{key}: reStructuredText error"
        if key.endswith(".png"):
            assert (
                entry["data_uri"].startswith("data:image/png;") and ";base64," in entry["data_uri"]
            )
    assert set(_embedded(html, "categories")) == {"Figures", "Tables"}
    # the training status travels from the predictions files into every table
    training = pd.read_csv(ev / "training.csv").set_index("model")
    assert training.loc["p_model", "status"] == "converged"
    assert training.loc["r_model", "status"] == "not converged (epoch ceiling)"
    assert training.loc["elastic_net", "status"] == "n/a (no epochs)"
    assert training.loc["p_model", "best_epoch"] == 4 and training.loc["r_model", "epochs_run"] == 12
    status = summary.groupby("model")["training"].unique()
    assert status["r_model"].tolist() == ["not converged (epoch ceiling)"]
    assert status["p_model"].tolist() == ["converged"]
    assert set(comparisons.loc[comparisons["model"] == "r_model", "training"]) == {
        "not converged (epoch ceiling)"
    }
    # the landing page (the workflow description) shows the answer: the summary numbers of
    # every model in the honest cell, with CIs, and the convergence status
    desc = html.split('<script id="workflow-desc">', 1)[1].split("</script>", 1)[0]
    desc = json.loads(desc.split("var workflow_desc = ", 1)[1].rsplit(";", 1)[0])
    assert "The answer" in desc and "system-message" not in desc
    honest = summary.query("cell == 'heldout_genes|heldout_individuals'")
    for model in ("p_model", "r_model"):
        row = honest.query("model == @model and statistic == 'median_r'").iloc[0]
        shown = f"{row.estimate:.2f} [{row.ci_low:.2f}, {row.ci_high:.2f}] (n={row.n_genes})"
        assert shown in desc, (model, shown)
    assert "r_model (not converged)" in desc and "p_model (not converged)" not in desc
    assert "not converged (epoch ceiling)" in desc and "direction accuracy" in desc
    assert "fraction of the cis-h2 ceiling" in desc
    # captions are rendered with the run's settings
    da = next(v for k, v in results.items() if k.endswith("direction_accuracy.png"))
    assert "99 permutations" in da["caption"]


CHECK_SCRIPT = """
<script>
setTimeout(function () {
  var out = {figures: {}, menu: document.querySelector('#app').innerText};
  var entries = Object.keys(results).filter(function (k) {
    return results[k].mime_type.indexOf('image/') === 0;
  });
  var pending = entries.length;
  entries.forEach(function (k) {
    var img = new Image();
    img.onload = function () { out.figures[k] = [img.naturalWidth, img.naturalHeight]; done(); };
    img.onerror = function () { out.figures[k] = [0, 0]; done(); };
    img.src = results[k].data_uri;
  });
  function done() {
    pending -= 1;
    if (pending > 0) { return; }
    var first = entries.filter(function (k) { return k.indexOf('direction_accuracy') >= 0; })[0];
    app.showCategory('Figures');
    setTimeout(function () {
      app.setView({content: 'img', contentPath: results[first].data_uri});
    }, 300);
    setTimeout(function () {
      var shown = Array.prototype.filter.call(document.querySelectorAll('#app img'), function (im) {
        return im.src === results[first].data_uri;
      })[0];
      out.shown = shown ? [shown.naturalWidth, shown.naturalHeight] : null;
      out.listed = document.querySelector('#app').innerText;
      var pre = document.createElement('pre');
      pre.id = 'ps2f-check';
      pre.textContent = JSON.stringify(out);
      document.body.appendChild(pre);
    }, 1000);
  }
}, 500);
</script>
</body>
"""


@pytest.mark.skipif(
    chromium_binary() is None,
    reason="chromium not installed (Debian: apt-get install -y chromium); the report is not "
    "checked in a browser",
)
def test_report_renders_in_headless_chromium(report_run, tmp_path):
    page = tmp_path / "check.html"
    html = (report_run / "report.html").read_text()
    head, tail = html.rsplit("</body>", 1)  # the page's own closing tag is the last one
    page.write_text(head + CHECK_SCRIPT + tail)
    shot = tmp_path / "report.png"
    proc = run_chromium(
        ["--virtual-time-budget=10000", "--window-size=1400,1000", f"--screenshot={shot}",
         "--dump-dom", page.as_uri()]
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    assert 'id="ps2f-check"' in dom, "the page's scripts did not run to the end:\n" + dom[-2000:]
    raw = dom.split('id="ps2f-check">', 1)[1].split("</pre>", 1)[0]
    check = json.loads(raw.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">"))
    # the app rendered its menu with both result categories
    assert "Figures" in check["menu"] and "Tables" in check["menu"]
    # and the first page a user sees holds the answer and the convergence status
    assert "The answer" in check["menu"] and "r_model (not converged)" in check["menu"]
    assert "median r, held-out genes" in check["menu"] and "direction accuracy" in check["menu"]
    # every figure embedded in the report decodes to an image (no missing images)
    assert len(check["figures"]) == len(FIGURES)
    for key, (w, h) in check["figures"].items():
        assert w > 300 and h > 200, key
    # a figure opened in the report's viewer is displayed
    assert check["shown"] and check["shown"][0] > 300
    assert "direction accuracy" in check["listed"]
    # and a screenshot of that view is a real image
    assert shot.stat().st_size > 20000
