"""External reference scorers behind one interface: Enformer, AlphaGenome, precomputed tables.

The r-model (ps2f's own CNN trained on the reference) is scored by the ``score_reference`` rule
through :func:`ps2f.training.predict_individuals` (``reference_scoring`` mode): one path.

Every scorer implements :class:`Scorer` (``name``, ``window_bp``,
``score_haplotypes(batch) -> (B, 2)``), and the ``score_external`` rule writes its
predictions into the shared predictions table, so evaluation never special-cases a model.

Registry by convention: scorer type ``t`` is the module ``ps2f.models.scorers.t``, which
defines

* ``DEFAULTS`` (dict): every optional key with its default (the config schema repeats them;
  a test checks that the two agree), ``REQUIRED`` (tuple): keys without a default;
* ``check_config(spec, key)``: torch-free checks run when the workflow is parsed (paths exist,
  values consistent), raising :class:`ps2f.errors.ConfigError`;
* ``from_config(spec, key) -> Scorer``.

Per-tissue tracks (config ``tissue_tracks``, issue 16 item 2): a scorer type whose tracks are
read from one model output (enformer, borzoi, torch_module, alphagenome_local, and
alphagenome, whose cached responses hold every requested track) has a ``tissue_tracks`` key,
a mapping of tissue name to a track list in the form of its ``tracks``. Its scorer reads every
distinct list (:func:`configured_track_sets`) from the same forward pass and returns one score
per set (``score_haplotypes -> (B, 2, S)`` for S > 1 sets); rule ``score_haplotypes`` writes
them labelled by :func:`track_set_label`, and each tissue's ``score_external`` job reads its own.

Adding a model (e.g. Borzoi) is one new module here plus its entry in
``workflow/schemas/config.schema.yaml`` (and in :data:`CONFIG_TYPES`). Importing this package
imports neither torch nor a model library; each module imports its library lazily.
"""

from __future__ import annotations

import copy
import importlib
import pkgutil
import re
from collections.abc import Iterable, Mapping, Sequence
from types import ModuleType
from typing import Any

from ps2f.errors import ConfigError
from ps2f.models.scorers.base import (
    AGGREGATIONS,
    HaplotypeBatch,
    Scorer,
    SequenceScorer,
    aggregate_haplotypes,
    configured_track_sets,
    tissue_tracks_of,
    track_set_label,
    unique_sequences,
)

__all__ = [
    "AGGREGATIONS",
    "CONFIG_TYPES",
    "HaplotypeBatch",
    "Scorer",
    "SequenceScorer",
    "aggregate_haplotypes",
    "unique_sequences",
    "configured_track_sets",
    "tissue_tracks_of",
    "track_set_label",
    "scorer_types",
    "scorer_module",
    "with_defaults",
    "check_scorer_configs",
    "longest_window_bp",
    "build_scorer",
]

#: Types the workflow's ``scorers:`` section accepts (the r-model is scored by its own rule).
CONFIG_TYPES: tuple[str, ...] = ("enformer", "alphagenome", "precomputed")
CONFIG_TYPES += ("alphagenome_local",)  # issue 18 item 2: AlphaGenome from local weights
CONFIG_TYPES += ("torch_module",)  # issue 18 item 3: any PyTorch model, by a callable
CONFIG_TYPES += ("borzoi",)  # issue 18 item 1: Borzoi / Flashzoi (borzoi-pytorch)
_NOT_TYPES = {"base"}
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_COMMON = ("name", "type")


def scorer_types() -> tuple[str, ...]:
    """Every scorer type shipped (the modules of this package), sorted."""
    return tuple(
        sorted(
            m.name
            for m in pkgutil.iter_modules(__path__)
            if not m.name.startswith("_") and m.name not in _NOT_TYPES
        )
    )


def scorer_module(kind: str) -> ModuleType:
    """The module implementing scorer type ``kind``.

    Raises
    ------
    ps2f.errors.ConfigError
        No such type.
    """
    if kind not in scorer_types():
        raise ConfigError(f"unknown scorer type {kind!r}; available: {list(scorer_types())}")
    return importlib.import_module(f"{__name__}.{kind}")


def with_defaults(spec: Mapping[str, Any], key: str = "scorer") -> dict[str, Any]:
    """A scorer config with its type's defaults filled in and unknown keys rejected.

    Parameters
    ----------
    spec : mapping
        ``name``, ``type`` and the type's keys (see each module's ``DEFAULTS``/``REQUIRED``).
    key : str
        Where the spec sits in the config (for messages), e.g. ``"scorers[0]"``.

    Returns
    -------
    dict

    Raises
    ------
    ps2f.errors.ConfigError
        Missing ``name``/``type``/required key, unknown key, or a name that is not an
        identifier (it becomes a file name and a Snakemake wildcard value).
    """
    for k in _COMMON:
        if not spec.get(k):
            raise ConfigError(f"{key}: '{k}' is required")
    mod = scorer_module(spec["type"])
    allowed = set(_COMMON) | set(mod.DEFAULTS) | set(mod.REQUIRED)
    if "tissue_tracks" in spec and "tissue_tracks" not in allowed:
        raise ConfigError(
            f"{key}.tissue_tracks: not supported for type {spec['type']} (its scores are not "
            f"read from model tracks); remove it, and give a tissue other scores as a scorer "
            f"of its own in a one-tissue run"
        )
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise ConfigError(
            f"{key} (type {spec['type']}): unknown keys {unknown}; allowed: {sorted(allowed)}"
        )
    missing = [k for k in mod.REQUIRED if spec.get(k) in (None, "")]
    if missing:
        raise ConfigError(f"{key} (type {spec['type']}): {missing} must be set")
    name = str(spec["name"])
    if not _NAME.match(name):
        raise ConfigError(
            f"{key}.name {name!r}: use letters, digits and '_' (starting with a letter); it "
            f"names the model in the tables and the file results/<run>/predictions/<name>.parquet"
        )
    if spec.get("aggregate", "mean") not in AGGREGATIONS:
        raise ConfigError(
            f"{key}.aggregate must be one of {AGGREGATIONS}, got {spec['aggregate']!r}"
        )
    return {**copy.deepcopy(mod.DEFAULTS), **copy.deepcopy(dict(spec))}


def check_scorer_configs(
    specs: Iterable[Mapping[str, Any]], reserved: Sequence[str] = (), tissues: Sequence[str] = ()
) -> dict[str, dict[str, Any]]:
    """Check the workflow's ``scorers:`` section when the workflow is parsed (torch-free).

    Parameters
    ----------
    specs : iterable of mapping
        The list under ``scorers:``.
    reserved : sequence of str
        Model names already taken (``p_model``, ``r_model``, the baselines).
    tissues : sequence of str
        The names under the config's ``tissues:`` (empty: a one-phenotype run); every
        ``tissue_tracks`` key must be one of them.

    Returns
    -------
    dict of str to dict
        Each scorer's full config (defaults filled in), by name, in config order.

    Raises
    ------
    ps2f.errors.ConfigError
        A name repeats or is reserved, a type is not in :data:`CONFIG_TYPES`, a type's own
        check fails (missing weights or table, unknown track, ...; ``tissue_tracks`` lists are
        checked as ``tracks``), or ``tissue_tracks`` is set without ``tissues:``, names a
        tissue not listed there, or is set for a type without tracks (``precomputed``).
    """
    out: dict[str, dict[str, Any]] = {}
    for i, spec in enumerate(specs):
        key = f"scorers[{i}]"
        if spec.get("type") not in CONFIG_TYPES:
            raise ConfigError(
                f"{key}.type must be one of {list(CONFIG_TYPES)}, got {spec.get('type')!r}"
            )
        full = with_defaults(spec, key)
        name = full["name"]
        if name in reserved:
            raise ConfigError(f"{key}.name {name!r} is a built-in model; choose another name")
        if name in out:
            raise ConfigError(f"{key}.name {name!r} is used by two scorers")
        _check_tissue_names(full, key, tissues)
        scorer_module(full["type"]).check_config(full, key)
        out[name] = full
    return out


def _check_tissue_names(spec: Mapping[str, Any], key: str, tissues: Sequence[str]) -> None:
    """``tissue_tracks`` needs ``tissues:`` and may name only the tissues listed there."""
    mapping = spec.get("tissue_tracks") or {}
    if not mapping:
        return
    if not isinstance(mapping, Mapping):
        raise ConfigError(
            f"{key}.tissue_tracks {mapping!r}: give a mapping of tissue name to its track list"
        )
    if not tissues:
        raise ConfigError(
            f"{key}.tissue_tracks {dict(mapping)!r}: the config lists no tissues (tissues: is "
            f"empty), so there is no tissue to give its own tracks; remove tissue_tracks and set "
            f"{key}.tracks, or list the tissues under tissues:"
        )
    unknown = [t for t in mapping if t not in tissues]
    if unknown:
        raise ConfigError(
            f"{key}.tissue_tracks: {unknown} not under tissues: (it lists {list(tissues)}); "
            f"use the tissues' names, or remove these entries"
        )


def longest_window_bp(s2f_window_bp: int, specs: Iterable[Mapping[str, Any]]) -> int:
    """Longest sequence window any model of a run reads around a TSS, in bp.

    The p-/r-model read ``s2f_window_bp``; each sequence scorer (Enformer, AlphaGenome) reads
    its own ``window_bp`` (its type's default when unset); precomputed scorers read no
    sequence. The workflow hands this length to the ``genotypes`` rule: the variant store must
    hold the variants of the longest window, or a scorer's haplotypes would silently carry the
    reference past the stored windows.

    Parameters
    ----------
    s2f_window_bp : int
        Config ``s2f.window_bp``, in bp.
    specs : iterable of mapping
        The ``scorers:`` entries (with or without their defaults filled in).

    Returns
    -------
    int
        Window length in bp.

    Raises
    ------
    ps2f.errors.ConfigError
        A scorer entry is malformed (see :func:`with_defaults`).
    """
    lengths = [int(s2f_window_bp)]
    for i, spec in enumerate(specs):
        window = with_defaults(spec, f"scorers[{i}]").get("window_bp")
        if window:
            lengths.append(int(window))
    return max(lengths)


def build_scorer(spec: Mapping[str, Any], key: str = "scorer") -> Scorer:
    """Construct the scorer a config describes (loads weights, tables, clients).

    Parameters
    ----------
    spec : mapping
        One entry of ``scorers:`` (defaults may be missing; they are filled in).
    key : str
        Where the spec sits in the config, for messages.

    Returns
    -------
    Scorer

    Raises
    ------
    ps2f.errors.ConfigError
        Invalid config, missing weights/table, missing optional dependency.
    """
    full = with_defaults(spec, key)
    mod = scorer_module(full["type"])
    mod.check_config(full, key)
    return mod.from_config(full, key)
