"""Any PyTorch model as a scorer: a config names a callable that returns a ``torch.nn.Module``.

Issue 18 item 3. A user's own CNN, a gReLU model or a fine-tuned Enformer runs with no code
change in ps2f: the config says how to build the model and how to read its input and output,

* ``callable``: ``"package.module:function"`` (a module importable by the interpreter that runs
  the job: an installed package, or a folder on ``PYTHONPATH``) or ``"path/to/file.py:function"``
  (a Python file, relative to the workflow's working directory, i.e. Snakemake's
  ``--directory``, where jobs run; the file is also an input of the job, so editing it re-runs
  the scorer; a module file in that directory is not on the job's path: use this form; the
  file's folder is put on the path, so it may import the modules beside it). ``kwargs`` are
  passed to it; it must return a ``torch.nn.Module``;
* ``weights`` (optional): a local state-dict file (``torch.save(model.state_dict())`` or
  ``.safetensors``), loaded with ``strict=True`` into the module the callable returns;
* ``window_bp``: the input length L in bp, centred on the TSS (``L // 2``);
* ``one_hot_layout``: ``NCL`` (ps2f's own ``(N, 4, L)``; gReLU, Basenji-style PyTorch CNNs) or
  ``NLC`` (``(N, L, 4)``: enformer-pytorch, alphagenome-pt); ACGT order, N = all zeros;
* ``output_key``: for a model returning a mapping (enformer-pytorch: ``{"human": ..., "mouse":
  ...}``) or a tuple, the key or index of the tensor to read; ``null`` for a tensor;
* ``output_layout``: ``N,bins,tracks`` (Enformer), ``N,tracks,bins`` (gReLU) or ``N,tracks``
  (one value per track and sequence: the bins are the model's business);
* ``bin_bp``: width of an output bin in bp (``null``: ``window_bp / n_bins``, bins tiling the
  whole window). The output bins are taken to be centred on the input window (the usual centre
  crop: Enformer's 896 x 128 bp of 196,608), so the TSS, base ``L // 2``, falls in bin
  ``(L // 2 - (L - n_bins * bin_bp) / 2) // bin_bp`` (448 of 896 for Enformer);
* ``n_tss_bins``: how many bins centred on that TSS bin are read (3: Enformer's 447-449);
* ``tracks``: output track indices; ``bin_aggregate`` / ``track_aggregate``: ``sum`` or
  ``mean`` over the TSS bins, then over the tracks (Enformer's protocol, Huang 2023 and Sasse
  2023: sum over bins, mean over tracks);
* ``batch_size``, ``device`` (``auto``/``cpu``/``cuda``) and ``precision`` (``auto``: bf16
  autocast on CUDA, float32 on CPU; ``bf16`` autocasts on either; ``fp32`` never). The read-out
  (selection and sums) always runs in float32.
* ``python`` (optional): another interpreter to score in (a virtual environment with the
  model's packages, e.g. gReLU's, and ps2f installed): the job runs ``python -m
  ps2f.pipeline.score`` there, and the parse-time check of ``callable`` runs there too.

Orientation: as for every sequence scorer, each haplotype window is 5'->3' on the gene's strand
(minus-strand genes reverse-complemented, as :mod:`ps2f.models.scorers.enformer`), and each
distinct window of a gene is run once (:class:`~ps2f.models.scorers.base.SequenceScorer`).

Checks: when the workflow is parsed (torch-free, nothing imported or run): the ``callable``
string, that its module can be found (a file exists; a module is on ``sys.path``) and that the
module's source binds the function name at top level (read with :mod:`ast`), the weights file,
and the settings. When the scorer is built (the first seconds of the ``score_external`` job,
before any haplotype is built): the callable is imported and called, its result must be a
``torch.nn.Module``, the weights must fit it exactly, and one dummy batch (one all-N window) is
run to check that the output matches ``output_key``/``output_layout`` and holds the tracks and
bins asked for. Each error names the scorer's config key.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import importlib.util
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ps2f.errors import ConfigError
from ps2f.models.scorers.base import (
    DEVICES,
    SequenceScorer,
    configured_track_sets,
    resolve_device,
    tissue_track_lists,
)

__all__ = [
    "DEFAULTS",
    "REQUIRED",
    "ONE_HOT_LAYOUTS",
    "OUTPUT_LAYOUTS",
    "parse_callable",
    "load_callable",
    "build_module",
    "tss_bin",
    "TorchModuleScorer",
    "check_config",
    "from_config",
]

REQUIRED: tuple[str, ...] = ("callable", "window_bp", "tracks")
DEFAULTS: dict[str, Any] = {
    "aggregate": "mean",
    "kwargs": {},
    "weights": None,
    "one_hot_layout": "NCL",
    "output_key": None,
    "output_layout": "N,bins,tracks",
    "bin_bp": None,
    "n_tss_bins": 3,
    "bin_aggregate": "sum",
    "track_aggregate": "mean",
    "batch_size": 4,
    "device": "auto",
    "precision": "auto",
    "python": None,
    "tissue_tracks": {},
}
ONE_HOT_LAYOUTS: tuple[str, ...] = ("NCL", "NLC")
OUTPUT_LAYOUTS: tuple[str, ...] = ("N,bins,tracks", "N,tracks,bins", "N,tracks")
_REDUCTIONS = ("sum", "mean")
_PRECISIONS = ("auto", "bf16", "fp32")
CALLABLE_HELP = (
    "give 'package.module:function' (importable by the job's Python: an installed package or a "
    "folder on PYTHONPATH) or 'path/to/file.py:function' (relative to the workflow's working "
    "directory); the function must return a torch.nn.Module"
)


# ----------------------------------------------------------------------------------------------
# the callable


def parse_callable(target: str, key: str = "callable") -> tuple[str, str, bool]:
    """Split a ``callable`` setting into its module, its attribute and its form.

    Parameters
    ----------
    target : str
        ``"package.module:function"`` or ``"path/to/file.py:function"`` (the attribute may be
        dotted: ``"mod:Class.build"``).
    key : str
        Config key, for messages.

    Returns
    -------
    module : str
        A dotted module name, or a file path.
    attribute : str
    is_file : bool
        True for the ``file.py`` form (the module part ends in ``.py`` or holds a ``/``).

    Raises
    ------
    ps2f.errors.ConfigError
        No ``:``, an empty part, or a module name that is not dotted identifiers.
    """
    module, sep, attr = str(target).rpartition(":")
    if not sep or not module or not attr:
        raise ConfigError(f"{key} {target!r}: expected 'module:function'; {CALLABLE_HELP}")
    if not all(p.isidentifier() for p in attr.split(".")):
        raise ConfigError(f"{key} {target!r}: {attr!r} is not a Python name; {CALLABLE_HELP}")
    is_file = module.endswith(".py") or "/" in module or "\\" in module
    if not is_file and not all(p.isidentifier() for p in module.split(".")):
        raise ConfigError(
            f"{key} {target!r}: {module!r} is neither a dotted module name nor a .py file; "
            f"{CALLABLE_HELP}"
        )
    return module, attr, is_file


def _module_source(module: str, is_file: bool, key: str) -> Path | None:
    """The source file of the callable's module, found without importing it (torch-free).

    Returns None where the module exists but has no Python source to read (an extension
    module, a namespace package).
    """
    if is_file:
        path = Path(module)
        if not path.is_file():
            raise ConfigError(
                f"{key}: the file {module!r} does not exist (relative paths are read from the "
                f"workflow's working directory, {Path.cwd()}); {CALLABLE_HELP}"
            )
        return path
    if module in sys.modules:
        origin = getattr(sys.modules[module], "__file__", None)
        return Path(origin) if origin else None
    # walk the dotted name with the import system's finders, never executing a package
    parts = module.split(".")
    search = None
    spec = None
    for i in range(len(parts)):
        name = ".".join(parts[: i + 1])
        spec = None
        if i == 0:
            spec = importlib.util.find_spec(name)
        else:
            for finder in sys.meta_path:
                find = getattr(finder, "find_spec", None)
                spec = find(name, search) if find else None
                if spec is not None:
                    break
        if spec is None:
            raise ConfigError(
                f"{key}: no module named {name!r} on this Python's path ({sys.executable}); "
                f"install the package, add its folder to PYTHONPATH, or use the "
                f"'path/to/file.py:function' form; {CALLABLE_HELP}"
            )
        search = spec.submodule_search_locations
    origin = spec.origin if spec is not None else None
    return Path(origin) if origin and origin.endswith(".py") else None


def _binds_top_level(tree: ast.Module, name: str) -> bool | None:
    """Whether a module's source binds ``name`` at top level; None when it cannot tell.

    It cannot tell when the module star-imports, defines a module ``__getattr__``, or binds
    names inside top-level ``if``/``try``/``with``/loops (left to the import at build time).
    """
    unsure = False
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if node.name == name:
                return True
            unsure |= node.name == "__getattr__"
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name == "*":
                    unsure = True
                elif (alias.asname or alias.name.split(".")[0]) == name:
                    return True
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(t)):
                    return True
        elif isinstance(node, (ast.If, ast.Try, ast.With, ast.For, ast.While)):
            unsure = True
    return None if unsure else False


def _check_callable(target: str, key: str) -> None:
    """Parse-time check of ``callable``: the module is found and binds the function (no import)."""
    module, attr, is_file = parse_callable(target, key)
    source = _module_source(module, is_file, key)
    if source is None or source.suffix != ".py":
        return
    try:
        tree = ast.parse(source.read_bytes(), filename=str(source))
    except SyntaxError as exc:
        raise ConfigError(
            f"{key}: {source} line {exc.lineno}: {exc.msg}; fix the module {module!r}"
        ) from exc
    except OSError as exc:
        raise ConfigError(f"{key}: cannot read {source} ({exc.strerror})") from exc
    head = attr.split(".")[0]
    if _binds_top_level(tree, head) is False:
        names = sorted(
            n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))
        )
        raise ConfigError(
            f"{key}: {module!r} ({source}) defines no {head!r} at top level (it defines "
            f"{names[:10]}); {CALLABLE_HELP}"
        )


def _import_file(path: Path, key: str):
    """Import a ``.py`` file as a module of its own (named after its resolved path).

    Its folder goes on ``sys.path`` first, so that it can import the modules beside it.
    """
    path = path.resolve()
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    name = f"ps2f_user_{path.stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:10]}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"{key}: cannot import {path} as a Python module")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    try:
        spec.loader.exec_module(mod)
    except Exception as exc:
        del sys.modules[name]
        raise ConfigError(
            f"{key}: importing {path} failed: {type(exc).__name__}: {exc}"
        ) from exc
    return mod


def load_callable(target: str, key: str = "callable"):
    """Import the function a ``callable`` setting names.

    Parameters
    ----------
    target : str
        See :func:`parse_callable`.
    key : str
        Config key, for messages.

    Returns
    -------
    callable

    Raises
    ------
    ps2f.errors.ConfigError
        The module is not found or fails to import (its error is quoted), the attribute is
        missing, or it is not callable.
    """
    module, attr, is_file = parse_callable(target, key)
    if is_file:
        path = Path(module)
        if not path.is_file():
            raise ConfigError(f"{key}: the file {module!r} does not exist; {CALLABLE_HELP}")
        mod = _import_file(path, key)
    else:
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            raise ConfigError(
                f"{key}: cannot import {module!r} ({exc}); install the package, add its folder "
                f"to PYTHONPATH, or use the 'path/to/file.py:function' form"
            ) from exc
        except Exception as exc:
            raise ConfigError(
                f"{key}: importing {module!r} failed: {type(exc).__name__}: {exc}"
            ) from exc
    obj = mod
    for part in attr.split("."):
        if not hasattr(obj, part):
            public = sorted(n for n in dir(mod) if not n.startswith("_"))
            raise ConfigError(
                f"{key}: {module!r} has no attribute {attr!r} (it has {public[:12]}); "
                f"{CALLABLE_HELP}"
            )
        obj = getattr(obj, part)
    if not callable(obj):
        raise ConfigError(f"{key}: {target!r} is a {type(obj).__name__}, not callable")
    return obj


def build_module(
    target: str,
    kwargs: Mapping[str, Any] | None = None,
    weights: str | Path | None = None,
    key: str = "scorer",
):
    """Call the configured callable and load the weights into the module it returns.

    Parameters
    ----------
    target : str
        ``callable`` setting (see :func:`parse_callable`).
    kwargs : mapping, optional
        Keyword arguments of the call.
    weights : str or pathlib.Path, optional
        State-dict file (``torch.save``; ``.safetensors``; a checkpoint dict with a
        ``state_dict`` entry), loaded with ``strict=True``.
    key : str
        Where the scorer sits in the config (``scorers[0]``), for messages.

    Returns
    -------
    torch.nn.Module
        On the CPU, in eval mode.

    Raises
    ------
    ps2f.errors.ConfigError
        See :func:`load_callable`; the call raised; the result is not a ``torch.nn.Module``;
        the weights are unreadable or do not fit the module exactly (missing and unexpected
        names listed).
    """
    import torch

    fn = load_callable(target, f"{key}.callable")
    try:
        model = fn(**dict(kwargs or {}))
    except Exception as exc:
        raise ConfigError(
            f"{key}.callable: {target}(**{dict(kwargs or {})}) raised {type(exc).__name__}: "
            f"{exc}; check {key}.kwargs"
        ) from exc
    if not isinstance(model, torch.nn.Module):
        raise ConfigError(
            f"{key}.callable: {target} returned a {type(model).__module__}.{type(model).__name__}"
            f", not a torch.nn.Module; it must build and return the model"
        )
    if weights:
        from ps2f.models.scorers.enformer import _read_state_dict

        path = Path(str(weights))
        if not path.is_file():
            raise ConfigError(f"{key}.weights: {str(path)!r} does not exist")
        try:
            state = _read_state_dict(path)
        except Exception as exc:
            raise ConfigError(
                f"{key}.weights: cannot read {path} ({type(exc).__name__}: {exc}); expected a "
                f"state dict saved with torch.save(model.state_dict()) or safetensors"
            ) from exc
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise ConfigError(
                f"{key}.weights: {path} does not fit the module {target} returns with "
                f"{key}.kwargs {dict(kwargs or {})}: {' '.join(str(exc).split())[:600]}"
            ) from exc
    return model.cpu().eval()


def tss_bin(window_bp: int, n_bins: int, bin_bp: int) -> int:
    """The output bin holding the TSS (base ``window_bp // 2``), bins centred on the window.

    Parameters
    ----------
    window_bp : int
        Input length L, in bp.
    n_bins : int
        Output bins.
    bin_bp : int
        Width of a bin, in bp; ``n_bins * bin_bp <= window_bp``, the rest cropped equally on
        both sides (Enformer: 196,608 bp in, 896 x 128 bp out, 40,960 bp cropped each side).

    Returns
    -------
    int
        ``tss_bin(196_608, 896, 128) == 448``.
    """
    crop = (int(window_bp) - int(n_bins) * int(bin_bp)) // 2
    return (int(window_bp) // 2 - crop) // int(bin_bp)


# ----------------------------------------------------------------------------------------------
# the scorer


class TorchModuleScorer(SequenceScorer):
    """Score haplotypes with any ``torch.nn.Module`` (see the module docstring).

    Parameters
    ----------
    name : str
        Model name in the predictions table.
    model : torch.nn.Module
        E.g. from :func:`build_module`.
    window_bp : int
        Input length L in bp.
    tracks : sequence of int
        Output track indices read.
    one_hot_layout : {"NCL", "NLC"}
        The model's input: ``(N, 4, L)`` or ``(N, L, 4)`` float32 one-hot, ACGT, N = zeros.
    output_key : str or int, optional
        Key (mapping output) or index (tuple/list output) of the tensor read.
    output_layout : {"N,bins,tracks", "N,tracks,bins", "N,tracks"}
    bin_bp : int, optional
        Output bin width in bp; None: ``window_bp / n_bins`` (must divide).
    n_tss_bins : int
        Bins centred on the TSS bin (:func:`tss_bin`) that are read.
    bin_aggregate, track_aggregate : {"sum", "mean"}
        Reduction over the TSS bins, then over the tracks.
    batch_size : int
        Distinct sequences per forward pass.
    device : {"auto", "cpu", "cuda"}
    precision : {"auto", "bf16", "fp32"}
        ``auto``: bf16 autocast on CUDA, float32 on CPU.
    track_sets : sequence of sequence of int, optional
        Every track set read from each forward pass (config ``tissue_tracks``: ``tracks``
        first, then each tissue's), each with the same bin and track reductions; with S > 1
        sets :meth:`score_sequences` returns ``(N, S)``. None: ``[tracks]``.

    Attributes
    ----------
    n_bins : int or None
        Output bins (None for ``N,tracks``), read from one dummy batch.
    bins : list of int
        The bins read (empty for ``N,tracks``).

    Raises
    ------
    ps2f.errors.ConfigError
        A setting out of range, or the dummy batch's output does not match ``output_key``,
        ``output_layout``, ``tracks``, ``bin_bp`` or ``n_tss_bins`` (the message gives the shape
        the model returned).
    """

    def __init__(
        self,
        name: str,
        model,
        window_bp: int,
        tracks: Sequence[int],
        one_hot_layout: str = DEFAULTS["one_hot_layout"],
        output_key: str | int | None = None,
        output_layout: str = DEFAULTS["output_layout"],
        bin_bp: int | None = None,
        n_tss_bins: int = DEFAULTS["n_tss_bins"],
        bin_aggregate: str = DEFAULTS["bin_aggregate"],
        track_aggregate: str = DEFAULTS["track_aggregate"],
        batch_size: int = DEFAULTS["batch_size"],
        device: str = DEFAULTS["device"],
        precision: str = DEFAULTS["precision"],
        track_sets: Sequence[Sequence[int]] | None = None,
    ) -> None:
        for ts in track_sets or []:
            _check_tracks(ts, "track_sets: ")
        _check_settings(
            {
                "window_bp": window_bp,
                "tracks": tracks,
                "one_hot_layout": one_hot_layout,
                "output_layout": output_layout,
                "bin_bp": bin_bp,
                "n_tss_bins": n_tss_bins,
                "bin_aggregate": bin_aggregate,
                "track_aggregate": track_aggregate,
                "batch_size": batch_size,
                "device": device,
                "precision": precision,
                "output_key": output_key,
            },
            "",
        )
        self.name = name
        self.window_bp = int(window_bp)
        self.tracks = [int(t) for t in tracks]
        if track_sets is not None:
            self.track_sets = [[int(t) for t in ts] for ts in track_sets]
        self.one_hot_layout = one_hot_layout
        self.output_key = output_key
        self.output_layout = output_layout
        self.bin_aggregate = bin_aggregate
        self.track_aggregate = track_aggregate
        self.batch_size = int(batch_size)
        self.device = resolve_device(device)
        self.bf16 = precision == "bf16" or (precision == "auto" and self.device.type == "cuda")
        self.model = model.to(self.device).eval()
        shape = self._probe()
        # (bins, tracks) positions in the output; n_bins is None for N,tracks
        self.n_bins, self.n_tracks = {
            "N,bins,tracks": (shape[1], shape[-1]),
            "N,tracks,bins": (shape[-1], shape[1]),
            "N,tracks": (None, shape[1]),
        }[output_layout]
        self._shape = shape[1:]  # every batch's output: (n, *_shape)
        every = [t for ts in [self.tracks, *(self.track_sets or [])] for t in ts]
        bad = sorted({t for t in every if t >= self.n_tracks})
        if bad:
            swapped = self.n_bins is not None and max(every) < self.n_bins
            raise ConfigError(
                f"tracks {bad}: the output{self._what(shape)} has {self.n_tracks} tracks"
                + (self._swap_hint() if swapped else "")
            )
        if output_layout == "N,tracks":
            self.bin_bp, self.bins = None, []
            return
        if bin_bp is None:
            if self.window_bp % self.n_bins:
                raise ConfigError(
                    f"bin_bp: {self.n_bins} output bins do not tile the {self.window_bp}-bp "
                    f"window; set bin_bp (the model's bin width in bp; its output is then taken "
                    f"to be centre-cropped); the output{self._what(shape)}{self._swap_hint()}"
                )
            bin_bp = self.window_bp // self.n_bins
        self.bin_bp = int(bin_bp)
        if self.n_bins * self.bin_bp > self.window_bp:
            raise ConfigError(
                f"bin_bp {self.bin_bp}: {self.n_bins} output bins of {self.bin_bp} bp span more "
                f"than the {self.window_bp}-bp window; the output{self._what(shape)}{self._swap_hint()}"
            )
        centre = tss_bin(self.window_bp, self.n_bins, self.bin_bp)
        lo = centre - (int(n_tss_bins) - 1) // 2
        self.bins = list(range(lo, lo + int(n_tss_bins)))
        if lo < 0 or self.bins[-1] >= self.n_bins:
            raise ConfigError(
                f"n_tss_bins {n_tss_bins}: bins {self.bins[0]}..{self.bins[-1]} around the TSS "
                f"bin {centre} fall outside the {self.n_bins} output bins"
            )

    # the output tensor -------------------------------------------------------------------

    def _what(self, shape) -> str:
        """`` of shape (1, 896, 5313) (N,bins,tracks)``, with the output key if any."""
        key = "" if self.output_key is None else f"[{self.output_key!r}]"
        return f"{key} of shape {tuple(shape)} ({self.output_layout})"

    def _swap_hint(self) -> str:
        other = "N,tracks,bins" if self.output_layout == "N,bins,tracks" else "N,bins,tracks"
        return f"; is the output_layout {other}?"

    def _select(self, out):
        """The tensor of a forward pass's output (``output_key``), or a ConfigError."""
        import torch

        key = self.output_key
        if key is not None:
            if isinstance(out, Mapping):
                if key not in out:
                    raise ConfigError(
                        f"output_key {key!r}: the model returns a mapping with keys "
                        f"{list(out)[:10]}"
                    )
                out = out[key]
            elif isinstance(out, (tuple, list)):
                if not isinstance(key, int) or not -len(out) <= key < len(out):
                    raise ConfigError(
                        f"output_key {key!r}: the model returns a {type(out).__name__} of "
                        f"{len(out)}; give an index"
                    )
                out = out[key]
            else:
                raise ConfigError(
                    f"output_key {key!r}: the model returns a {type(out).__name__}, not a mapping "
                    f"or a tuple; set output_key: null"
                )
        if not isinstance(out, torch.Tensor):
            what = f"{type(out).__name__}"
            if isinstance(out, Mapping):
                what += f" with keys {list(out)[:10]}"
            raise ConfigError(
                f"output_key: the model returns a {what}, not a tensor; set output_key to the "
                f"key or index of the tensor to read"
            )
        return out

    def _forward(self, codes):
        """One forward pass on uint8 codes (torch, on the device) -> float32 output tensor."""
        import torch

        from ps2f.genome.encoding import one_hot

        x = one_hot(codes)  # (n, 4, L) float32
        if self.one_hot_layout == "NLC":
            x = x.transpose(1, 2)  # (n, L, 4)
        x = x.contiguous()
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            out = self.model(x)
        return self._select(out).float()

    def _probe(self) -> tuple[int, ...]:
        """Shape of the output for one all-N window; checks its rank and batch dimension."""
        import torch

        from ps2f.genome.encoding import N_CODE

        codes = torch.full((1, self.window_bp), N_CODE, dtype=torch.uint8, device=self.device)
        try:
            with torch.no_grad():
                y = self._forward(codes)
        except ConfigError:
            raise
        except Exception as exc:
            raise ConfigError(
                f"the model fails on one {self.window_bp}-bp window in layout "
                f"{self.one_hot_layout} ({type(exc).__name__}: {str(exc)[:300]}); check "
                f"window_bp and one_hot_layout"
            ) from exc
        rank = 2 if self.output_layout == "N,tracks" else 3
        if y.ndim != rank or y.shape[0] != 1:
            raise ConfigError(
                f"output_layout {self.output_layout}: the model returned shape "
                f"{tuple(y.shape)} for a batch of 1; expected {rank} dimensions with the batch "
                f"first"
            )
        return tuple(int(s) for s in y.shape)

    def describe(self) -> str:
        """Model class, read-out, window, device and precision."""
        tracks = self.tracks if self.n_track_sets == 1 else f"sets {self.track_sets}"
        read = f"tracks {tracks} ({self.track_aggregate})"
        if self.bins:
            read += (
                f", {self.bin_aggregate} over bins {self.bins[0]}-{self.bins[-1]} of "
                f"{self.n_bins} x {self.bin_bp} bp"
            )
        return (
            f"torch module {self.name!r} ({type(self.model).__name__}, output "
            f"(N, {', '.join(map(str, self._shape))}) read as {self.output_layout}): {read}; "
            f"{self.window_bp} bp windows in {self.one_hot_layout}, {self.device}, "
            f"{'bf16' if self.bf16 else 'fp32'}, batch {self.batch_size}"
        )

    def score_sequences(self, codes: np.ndarray) -> np.ndarray:
        """Score sequences: the tracks' reduction over the TSS bins, reduced over the tracks.

        Parameters
        ----------
        codes : numpy.ndarray, shape (N, window_bp), uint8
            Strand-oriented windows, TSS at ``window_bp // 2``.

        Returns
        -------
        numpy.ndarray, shape (N,) or (N, S), float64
            Model units; ``(N, S)`` for S > 1 ``track_sets``, each set read from the same
            forward pass with the same reductions.
        """
        import torch

        codes = np.asarray(codes)
        if codes.ndim != 2 or codes.shape[1] != self.window_bp or codes.dtype != np.uint8:
            raise ValueError(
                f"expected uint8 codes of shape (N, {self.window_bp}), got {codes.dtype} "
                f"{codes.shape}"
            )
        sets = [self.tracks] if self.track_sets is None else self.track_sets
        tracks = [torch.as_tensor(ts, device=self.device) for ts in sets]
        bins = torch.as_tensor(self.bins, dtype=torch.long, device=self.device)
        out = np.empty((len(codes), len(sets)), dtype=np.float64)
        with torch.no_grad():
            for s in range(0, len(codes), self.batch_size):
                c = torch.from_numpy(np.ascontiguousarray(codes[s : s + self.batch_size]))
                y = self._forward(c.to(self.device))
                expected = (len(c), *self._shape)
                if tuple(y.shape) != expected:
                    raise RuntimeError(
                        f"scorer {self.name!r}: the model returned shape {tuple(y.shape)}, "
                        f"expected {expected} as on the probe batch"
                    )
                if self.output_layout == "N,tracks,bins":
                    y = y.transpose(1, 2)  # (n, bins, tracks)
                if self.output_layout != "N,tracks":
                    y = y.index_select(1, bins)  # (n, B, tracks)
                for j, t in enumerate(tracks):
                    if self.output_layout == "N,tracks":
                        v = y.index_select(1, t)  # (n, T)
                    else:
                        sel = y.index_select(2, t)  # (n, B, T)
                        v = sel.sum(dim=1) if self.bin_aggregate == "sum" else sel.mean(dim=1)
                    v = v.sum(dim=1) if self.track_aggregate == "sum" else v.mean(dim=1)
                    out[s : s + len(c), j] = v.double().cpu().numpy()
        return out[:, 0] if len(sets) == 1 else out


# ----------------------------------------------------------------------------------------------
# config


def _check_tracks(tracks: Any, key: str) -> None:
    """Check one track list (``tracks`` or a ``tissue_tracks`` entry; ``key`` starts the message).

    A non-empty list of indices >= 0; that they fit the output is checked when the model runs.
    """
    if (
        not isinstance(tracks, (list, tuple))
        or not tracks
        or any(isinstance(t, bool) or not isinstance(t, (int, np.integer)) or t < 0 for t in tracks)
    ):
        raise ConfigError(f"{key}{tracks!r}: give a list of track indices (>= 0)")


def _check_settings(spec: Mapping[str, Any], key: str) -> None:
    """Checks of the read-out settings that need no model (parse time and build time)."""
    k = f"{key}." if key else ""
    if int(spec["window_bp"]) < 1:
        raise ConfigError(f"{k}window_bp must be >= 1, got {spec['window_bp']}")
    _check_tracks(spec["tracks"], f"{k}tracks ")
    for name, allowed in (
        ("one_hot_layout", ONE_HOT_LAYOUTS),
        ("output_layout", OUTPUT_LAYOUTS),
        ("bin_aggregate", _REDUCTIONS),
        ("track_aggregate", _REDUCTIONS),
        ("device", DEVICES),
        ("precision", _PRECISIONS),
    ):
        if spec[name] not in allowed:
            raise ConfigError(f"{k}{name} must be one of {list(allowed)}, got {spec[name]!r}")
    if spec["bin_bp"] is not None and int(spec["bin_bp"]) < 1:
        raise ConfigError(f"{k}bin_bp must be >= 1 or null, got {spec['bin_bp']}")
    if int(spec["n_tss_bins"]) < 1:
        raise ConfigError(f"{k}n_tss_bins must be >= 1, got {spec['n_tss_bins']}")
    if int(spec["batch_size"]) < 1:
        raise ConfigError(f"{k}batch_size must be >= 1, got {spec['batch_size']}")
    ok = spec["output_key"]
    if ok is not None and (isinstance(ok, bool) or not isinstance(ok, (str, int))):
        raise ConfigError(f"{k}output_key must be a string, an integer or null, got {ok!r}")


_CHECK_CODE = """
import sys
from ps2f.errors import ConfigError
from ps2f.models.scorers.torch_module import _check_callable
try:
    _check_callable(sys.argv[1], sys.argv[2])
except ConfigError as err:
    print(err, file=sys.stderr)
    sys.exit(3)
"""


def _check_in_interpreter(python: str, target: str, key: str) -> None:
    """The parse-time ``callable`` check, run by the scorer's own interpreter (``python``)."""
    if not Path(python).is_file():
        raise ConfigError(
            f"{key}.python: {python!r} does not exist; give the interpreter of the environment "
            f"that has the model's packages and ps2f (pip install -e <this repository>)"
        )
    try:
        proc = subprocess.run(
            [python, "-c", _CHECK_CODE, target, f"{key}.callable"],
            capture_output=True,
            text=True,
            timeout=300,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ConfigError(f"{key}.python: cannot run {python} ({exc})") from exc
    if proc.returncode == 3:
        raise ConfigError(f"{proc.stderr.strip()} (checked with {key}.python {python})")
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise ConfigError(
            f"{key}.python: {python} cannot run ps2f's check ({last}); install ps2f in that "
            f"environment (pip install -e <this repository>)"
        )


def check_config(spec: Mapping[str, Any], key: str) -> None:
    """Parse-time checks (torch-free, nothing imported): callable, weights, settings.

    ``tracks`` and each ``tissue_tracks`` list are checked alike (indices >= 0; that they fit
    the model's output is checked when it is built).

    Raises
    ------
    ps2f.errors.ConfigError
    """
    _check_settings(spec, key)
    for _, tracks, k in tissue_track_lists(spec, key):
        _check_tracks(tracks, f"{k} ")
    if not isinstance(spec["kwargs"], Mapping):
        raise ConfigError(f"{key}.kwargs must be a mapping, got {spec['kwargs']!r}")
    if spec.get("python"):
        _check_in_interpreter(str(spec["python"]), str(spec["callable"]), key)
    else:
        _check_callable(str(spec["callable"]), f"{key}.callable")
    weights = spec.get("weights")
    if weights:
        from ps2f.models.scorers.enformer import _check_weights_file

        path = Path(str(weights))
        if not path.is_file():
            raise ConfigError(
                f"{key}.weights: {str(path)!r} is not a file; give a state-dict file "
                f"(torch.save(model.state_dict()) or .safetensors), or null"
            )
        _check_weights_file(
            path,
            f"{key}.weights",
            advice="Give the state dict of the module the callable returns "
            "(torch.save(model.state_dict(), PATH) or a .safetensors file), or null",
        )


def from_config(spec: Mapping[str, Any], key: str) -> TorchModuleScorer:
    """Build the scorer of a ``type: torch_module`` config entry (imports and runs the model).

    Raises
    ------
    ps2f.errors.ConfigError
        See :func:`build_module` and :class:`TorchModuleScorer`; messages name ``key``.
    """
    model = build_module(spec["callable"], spec["kwargs"], spec.get("weights"), key)
    sets = configured_track_sets(spec)
    try:
        return TorchModuleScorer(
            spec["name"],
            model,
            window_bp=spec["window_bp"],
            tracks=spec["tracks"],
            one_hot_layout=spec["one_hot_layout"],
            output_key=spec["output_key"],
            output_layout=spec["output_layout"],
            bin_bp=spec["bin_bp"],
            n_tss_bins=spec["n_tss_bins"],
            bin_aggregate=spec["bin_aggregate"],
            track_aggregate=spec["track_aggregate"],
            batch_size=spec["batch_size"],
            device=spec["device"],
            precision=spec["precision"],
            track_sets=sets if len(sets) > 1 else None,
        )
    except ConfigError as exc:
        raise ConfigError(f"{key} (torch_module {spec['name']!r}, {spec['callable']}): {exc}") from exc
