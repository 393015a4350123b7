"""Expression from the planted mechanism: mixing, nonlinearity, covariates, noise, ceilings.

Works on small per-gene summaries (one value per gene and haplotype or individual), never on
genotypes: those are streamed to the VCF by :mod:`ps2f.simulate.cohort`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "Components",
    "GeneticScales",
    "per_individual",
    "genetic_values",
    "component_variances",
    "genetic_scales",
    "apply_genetic_scales",
    "GenotypePCs",
    "observe",
    "observe_levels",
    "observe_external",
    "external_genetic_values",
]

#: Share of each component's variance carried by its product term when
#: ``nonlinearity == "interaction"``.
INTERACTION_SHARE = 0.5


@dataclass
class Components:
    """Raw components of every gene's genetic values, before scaling.

    Attributes
    ----------
    grammar_linear, grammar_interaction : numpy.ndarray, shape (n_genes, 2 * n_individuals), float64
        Per haplotype: ``sum_k effects[k] * S_k`` and ``sum_p c_p S_i S_j`` (the grammar's
        interacting motif pairs; see :class:`~ps2f.simulate.grammar.Grammar`).
    eqtl_linear : numpy.ndarray, shape (n_genes, 2 * n_individuals), float64
        Per haplotype: ``sum_j b_j x_hj`` over the gene-specific variants.
    eqtl_interaction : numpy.ndarray, shape (n_genes, n_individuals), float64
        Per individual: ``c (d_0 - 2 p_0)(d_1 - 2 p_1)``, the product of the first two
        gene-specific variants' centred dosages (epistasis), ``c ~ N(0, 1)``.
    """

    grammar_linear: np.ndarray
    grammar_interaction: np.ndarray
    eqtl_linear: np.ndarray
    eqtl_interaction: np.ndarray


@dataclass(frozen=True)
class GeneticScales:
    """Factors turning raw components into log1p expression units (one set for all genes).

    Attributes
    ----------
    grammar_linear, grammar_interaction, eqtl_linear, eqtl_interaction : float
        Multiplier of each raw component of :class:`Components`.
    """

    grammar_linear: float
    grammar_interaction: float
    eqtl_linear: float
    eqtl_interaction: float


def per_individual(haplotype_values: np.ndarray) -> np.ndarray:
    """Mean of each individual's two haplotypes: (..., 2n) -> (..., n)."""
    return haplotype_values.reshape(*haplotype_values.shape[:-1], -1, 2).mean(axis=-1)


#: Order of the rows of :func:`component_variances` (and of the means
#: :func:`genetic_scales` takes).
VARIANCE_PARTS = ("grammar_linear", "grammar_interaction", "grammar_sum", "eqtl_linear",
                  "eqtl_interaction")  # fmt: skip


def component_variances(comp: Components) -> np.ndarray:
    """Per gene, the variance across individuals of each part's per-individual value.

    The parts (rows, in the order of :data:`VARIANCE_PARTS`) are the grammar's linear and
    product terms and their sum, and the eQTL linear and product terms; a haplotype part's
    per-individual value is the mean of the two haplotypes (:func:`per_individual`). The
    means of the rows over all genes set the scales (:func:`genetic_scales`): a simulation in
    pieces (:mod:`ps2f.simulate.scale`) sums these rows piece by piece.

    Parameters
    ----------
    comp : Components

    Returns
    -------
    numpy.ndarray, shape (5, n_genes), float64
        In log1p units squared before scaling (raw component units).
    """
    g_lin = per_individual(comp.grammar_linear)
    g_int = per_individual(comp.grammar_interaction)
    return np.stack(
        [
            g_lin.var(axis=1),
            g_int.var(axis=1),
            (g_lin + g_int).var(axis=1),
            per_individual(comp.eqtl_linear).var(axis=1),
            comp.eqtl_interaction.var(axis=1),
        ]
    ).reshape(5, -1)


def genetic_scales(
    mean_variances: np.ndarray, grammar_weight: float, genetic_sd: float, nonlinearity: str
) -> GeneticScales:
    """The scales of :func:`genetic_values` from the components' variances averaged over genes.

    Parameters
    ----------
    mean_variances : numpy.ndarray, shape (5,), float64
        The rows of :func:`component_variances` averaged over all genes (0 for no genes).
    grammar_weight : float
        ``w`` in ``[0, 1]``.
    genetic_sd : float
        In log1p expression units.
    nonlinearity : {"none", "interaction", "threshold"}

    Returns
    -------
    GeneticScales
    """
    interaction = nonlinearity == "interaction"
    v = dict(zip(VARIANCE_PARTS, (float(x) for x in mean_variances), strict=True))

    def factors(v_lin: float, v_int: float, v_sum: float, weight: float, natural: bool):
        if natural and not interaction:  # one scale for the sum (inter: zero if no pairs)
            v_lin = v_sum
        if weight == 0 or v_lin == 0:
            return 0.0, 0.0
        base = genetic_sd * np.sqrt(weight)
        if interaction and v_int > 0:
            return (
                base * np.sqrt(1 - INTERACTION_SHARE) / np.sqrt(v_lin),
                base * np.sqrt(INTERACTION_SHARE) / np.sqrt(v_int),
            )
        scale = base / np.sqrt(v_lin)
        return scale, (scale if natural and v_int > 0 else 0.0)

    g_lin, g_int = factors(
        v["grammar_linear"], v["grammar_interaction"], v["grammar_sum"], grammar_weight, True
    )
    e_lin, e_int = factors(v["eqtl_linear"], v["eqtl_interaction"], 0.0, 1 - grammar_weight, False)
    return GeneticScales(g_lin, g_int, e_lin, e_int)


def apply_genetic_scales(
    comp: Components, scales: GeneticScales, nonlinearity: str
) -> tuple[np.ndarray, np.ndarray]:
    """Scale and sum the components; apply the ``threshold`` nonlinearity (per gene).

    Returns
    -------
    haplotype_values : numpy.ndarray, shape (n_genes, 2 * n_individuals), float64
    individual_values : numpy.ndarray, shape (n_genes, n_individuals), float64
        As :func:`genetic_values`.
    """
    haplotype_values = (
        scales.grammar_linear * comp.grammar_linear
        + scales.grammar_interaction * comp.grammar_interaction
        + scales.eqtl_linear * comp.eqtl_linear
    )
    individual_values = (
        per_individual(haplotype_values) + scales.eqtl_interaction * comp.eqtl_interaction
    )
    if nonlinearity == "threshold":
        floor = np.median(individual_values, axis=1, keepdims=True)
        individual_values = np.maximum(individual_values, floor)
    return haplotype_values, individual_values


def genetic_values(
    comp: Components,
    grammar_weight: float,
    genetic_sd: float,
    nonlinearity: str,
) -> tuple[np.ndarray, np.ndarray, GeneticScales]:
    """Mix the grammar and the gene-specific components into genetic values.

    Each component ``C`` (grammar, eQTL) is scaled by constants that are the same for all
    genes (so that the grammar stays the same rule everywhere), set from ``s^2``, the variance
    of a part's per-individual value (the mean of the two haplotypes; the eQTL product term is
    per individual already) averaged over genes:

    * ``nonlinearity == "interaction"``: ``C = sqrt(1 - a) C_lin / s_lin + sqrt(a) C_int /
      s_int`` with ``a =`` :data:`INTERACTION_SHARE` (the product terms carry a share ``a``
      of the variance);
    * otherwise the grammar keeps its product terms at their natural weight, ``G = (G_lin +
      G_int) / s``, and the eQTL component is additive, ``E = E_lin / s_lin``.

    Then ``g = genetic_sd * (sqrt(w) G + sqrt(1 - w) E)``. With ``"threshold"`` each gene's
    per-individual values below its median are raised to the median (a gene induced only
    above a threshold: dominance-like, not additive in the dosages).
    (:func:`genetic_scales` then :func:`apply_genetic_scales`.)

    Parameters
    ----------
    comp : Components
    grammar_weight : float
        ``w`` in ``[0, 1]``.
    genetic_sd : float
        In log1p expression units.
    nonlinearity : {"none", "interaction", "threshold"}

    Returns
    -------
    haplotype_values : numpy.ndarray, shape (n_genes, 2 * n_individuals), float64
        Each haplotype's value (the per-haplotype terms), in log1p units.
    individual_values : numpy.ndarray, shape (n_genes, n_individuals), float64
        Each individual's genetic value: the mean of its haplotypes' values plus the
        per-individual terms, after the nonlinearity.
    scales : GeneticScales
    """
    variances = component_variances(comp)
    means = variances.mean(axis=1) if variances.shape[1] else np.zeros(5)
    scales = genetic_scales(means, grammar_weight, genetic_sd, nonlinearity)
    haplotype_values, individual_values = apply_genetic_scales(comp, scales, nonlinearity)
    return haplotype_values, individual_values, scales


def external_genetic_values(
    comp: Components, training: Components, scales: GeneticScales, nonlinearity: str
) -> tuple[np.ndarray, np.ndarray]:
    """Genetic values of a second cohort under the first cohort's architecture.

    The scales are the first cohort's (``scales``, from :func:`genetic_values` on
    ``training``: nothing is standardized again), and so is the ``threshold``
    nonlinearity's floor per gene (the median of the first cohort's values before it).

    Parameters
    ----------
    comp : Components
        The second cohort's raw components (its haplotypes; centred as the first cohort's).
    training : Components
        The first cohort's.
    scales : GeneticScales
        The first cohort's.
    nonlinearity : {"none", "interaction", "threshold"}

    Returns
    -------
    haplotype_values : numpy.ndarray, shape (n_genes, 2 * n_individuals), float64
    individual_values : numpy.ndarray, shape (n_genes, n_individuals), float64
        As :func:`genetic_values`, for the second cohort's individuals.
    """
    if nonlinearity != "threshold":
        return apply_genetic_scales(comp, scales, nonlinearity)
    haplotype_values, individual_values = apply_genetic_scales(comp, scales, "none")
    _, before = apply_genetic_scales(training, scales, "none")
    floor = np.median(before, axis=1, keepdims=True)
    return haplotype_values, np.maximum(individual_values, floor)


class GenotypePCs:
    """Principal components of the genotypes, accumulated locus by locus.

    Accumulates the relationship matrix ``K = sum X X^T`` of standardized dosages (individuals
    x common sites) in batches of sites, so only an ``(n, n)`` matrix and one batch are held;
    :meth:`result` returns its leading eigenvectors (Patterson, Price & Reich, PLoS Genet
    2006). BLAS runs on one thread (the rule's one core; threads oversubscribed on a busy
    machine made a 700 x 700 ``eigh`` 100x slower).

    Parameters
    ----------
    n_individuals : int
    min_maf : float
        Sites with a lower minor-allele frequency are skipped.
    batch : int
        Sites per matrix product.
    """

    def __init__(self, n_individuals: int, min_maf: float = 0.05, batch: int = 4096):
        self.grm = np.zeros((n_individuals, n_individuals))
        self.min_maf = min_maf
        self.batch = batch
        self.n_sites = 0
        self._rows: list[np.ndarray] = []
        self._n_rows = 0

    def add(self, haplotypes: np.ndarray) -> None:
        """Add sites.

        Parameters
        ----------
        haplotypes : numpy.ndarray, shape (s, 2 * n_individuals), uint8
        """
        dosage = haplotypes.reshape(haplotypes.shape[0], -1, 2).sum(axis=2, dtype=np.float64)
        p = dosage.mean(axis=1) / 2
        keep = np.minimum(p, 1 - p) >= self.min_maf
        if not keep.any():
            return
        pk = p[keep, None]
        self._rows.append((dosage[keep] - 2 * pk) / np.sqrt(2 * pk * (1 - pk)))
        self._n_rows += int(keep.sum())
        self.n_sites += int(keep.sum())
        if self._n_rows >= self.batch:
            self._flush()

    def _flush(self) -> None:
        from threadpoolctl import threadpool_limits

        if self._rows:
            x = np.concatenate(self._rows)
            with threadpool_limits(limits=1, user_api="blas"):
                self.grm += x.T @ x
            self._rows, self._n_rows = [], 0

    def result(self, k: int) -> np.ndarray:
        """The first ``k`` PCs, shape (k, n_individuals), float64, unit variance.

        Each PC's sign is set so that its largest-magnitude entry is positive.
        """
        from threadpoolctl import threadpool_limits

        self._flush()
        if k == 0:
            return np.zeros((0, self.grm.shape[0]))
        with threadpool_limits(limits=1, user_api="blas"):
            _, vecs = np.linalg.eigh(self.grm)
        pcs = vecs[:, ::-1][:, :k].T * np.sqrt(self.grm.shape[0])
        flip = np.sign(pcs[np.arange(k), np.abs(pcs).argmax(axis=1)])
        return pcs * flip[:, None]


def observe(
    rng: np.random.Generator,
    y_true: np.ndarray,
    h2: float,
    covariate_variance: float,
    n_covariates: int,
    factors: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Add hidden-factor covariates and noise at the target heritability; clip at 0.

    For gene ``g`` with realised genetic variance ``V = var(y_true[g])`` (across individuals;
    genes with none use the median ``V`` of the others) the expression is
    ``y_obs = max(y_true + F @ l_g + e, 0)``: hidden factors ``F ~ N(0, 1)`` (individuals x
    ``n_covariates``) with loadings ``l_g ~ N(0, 1)`` rescaled so that their effect has variance
    ``V c / h2``, and noise ``e ~ N(0, V (1 - h2 - c) / h2)``, ``c = covariate_variance``.

    Parameters
    ----------
    rng : numpy.random.Generator
    y_true : numpy.ndarray, shape (n_genes, n_individuals), float64
        Noise-free expression, log1p units.
    h2, covariate_variance : float
    n_covariates : int
    factors : numpy.ndarray, shape (n_covariates, n_individuals), float64, optional
        The hidden factors, when the genes come in pieces that share them
        (:mod:`ps2f.simulate.scale`); ``None``: drawn here (first, before the loadings).

    Returns
    -------
    dict
        ``y_obs``, ``covariate_effect``, ``noise`` (each like ``y_true``), ``factors``
        (shape (n_covariates, n_individuals)), ``loadings`` (shape (n_genes,
        n_covariates)), ``h2_realised``, ``h2_adjusted`` (shape
        (n_genes,): squared Pearson r of ``y_true`` with ``y_obs`` and with ``y_obs -
        covariate_effect``; 0 for a gene without genetic variance).
    """
    n_genes, n_ind = y_true.shape
    covariate_sd, noise_sd = observe_levels(y_true, h2, covariate_variance)
    if factors is None:
        factors = rng.standard_normal((n_covariates, n_ind))
    loadings = rng.standard_normal((n_genes, n_covariates))
    return _observed(rng, y_true, covariate_sd, noise_sd, loadings, factors)


def observe_levels(
    y_true: np.ndarray, h2: float, covariate_variance: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per gene, the standard deviations of the hidden factors' effect and of the noise.

    ``sqrt(V c / h2)`` and ``sqrt(V (1 - h2 - c) / h2)`` with ``V = var(y_true[g])`` across
    individuals (genes with none use the median ``V`` of the others), as :func:`observe` sets
    them.

    Parameters
    ----------
    y_true : numpy.ndarray, shape (n_genes, n_individuals), float64
        Noise-free expression, log1p units.
    h2, covariate_variance : float

    Returns
    -------
    covariate_sd, noise_sd : numpy.ndarray, shape (n_genes,), float64
        log1p units.
    """
    v = y_true.var(axis=1)
    positive = v > 1e-12
    fallback = float(np.median(v[positive])) if positive.any() else 1.0
    v_eff = np.where(positive, v, fallback)
    covariate_sd = np.sqrt(v_eff * covariate_variance / h2)
    noise_sd = np.sqrt(np.maximum(v_eff * (1 - h2 - covariate_variance) / h2, 0.0))
    return covariate_sd, noise_sd


def observe_external(
    rng: np.random.Generator,
    y_true: np.ndarray,
    covariate_sd: np.ndarray,
    noise_sd: np.ndarray,
    loadings: np.ndarray,
) -> dict[str, np.ndarray]:
    """Observe a second cohort of the same genes at the first cohort's noise levels.

    The environment is the same per gene, not the heritability: the hidden factors' effect
    and the noise have the standard deviations the first cohort got from :func:`observe`
    (:func:`observe_levels` of its ``y_true``), so the second cohort's realised heritability
    follows its own genetic variance (other allele frequencies). Its hidden factors
    ``F ~ N(0, 1)`` and its noise are its own draws; each gene's loadings on the factors
    are the first cohort's.

    Parameters
    ----------
    rng : numpy.random.Generator
    y_true : numpy.ndarray, shape (n_genes, n_individuals), float64
        The second cohort's noise-free expression, log1p units.
    covariate_sd, noise_sd : numpy.ndarray, shape (n_genes,), float64
        The first cohort's levels (:func:`observe_levels`).
    loadings : numpy.ndarray, shape (n_genes, n_covariates), float64
        The first cohort's loadings (``observe(...)["loadings"]``).

    Returns
    -------
    dict
        As :func:`observe`.
    """
    factors = rng.standard_normal((loadings.shape[1], y_true.shape[1]))
    return _observed(rng, y_true, covariate_sd, noise_sd, loadings, factors)


def _observed(
    rng: np.random.Generator,
    y_true: np.ndarray,
    covariate_sd: np.ndarray,
    noise_sd: np.ndarray,
    loadings: np.ndarray,
    factors: np.ndarray,
) -> dict[str, np.ndarray]:
    """The factors' effect (rescaled to ``covariate_sd``), noise drawn at ``noise_sd``, y_obs."""
    n_genes, n_ind = y_true.shape
    cov = loadings @ factors
    cov_sd = cov.std(axis=1, keepdims=True)
    target = covariate_sd[:, None]
    cov = np.where(
        cov_sd > 0,
        (cov - cov.mean(axis=1, keepdims=True)) / np.where(cov_sd > 0, cov_sd, 1) * target,
        0.0,
    )
    noise = rng.standard_normal((n_genes, n_ind)) * noise_sd[:, None]
    y_obs = np.maximum(y_true + cov + noise, 0.0)
    return {
        "y_obs": y_obs,
        "covariate_effect": cov,
        "noise": noise,
        "factors": factors,
        "loadings": loadings,
        "h2_realised": _r2_rows(y_true, y_obs),
        "h2_adjusted": _r2_rows(y_true, y_obs - cov),
    }


def _r2_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Squared Pearson r of each row of ``a`` with the same row of ``b``; 0 if either is constant."""
    ac = a - a.mean(axis=1, keepdims=True)
    bc = b - b.mean(axis=1, keepdims=True)
    den = (ac**2).sum(axis=1) * (bc**2).sum(axis=1)
    num = (ac * bc).sum(axis=1) ** 2
    return np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)
