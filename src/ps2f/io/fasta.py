"""Reference sequence access through pyfaidx (plain or bgzipped FASTA with ``.fai``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pyfaidx

from ps2f.errors import InputError
from ps2f.genome.encoding import N_CODE, encode
from ps2f.io.contigs import resolve_contig

__all__ = ["Reference"]


class Reference:
    """A FASTA opened lazily, returning windows as uint8 codes, padded with ``N`` off the ends.

    Parameters
    ----------
    path : str or Path
        FASTA file, plain or bgzip-compressed (then with ``.fai`` and ``.gzi``).
    aliases : mapping of str to str, optional
        Explicit contig renames (see :mod:`ps2f.io.contigs`).

    Raises
    ------
    InputError
        If the file is missing or cannot be indexed.
    """

    def __init__(self, path: str | Path, aliases: Mapping[str, str] | None = None):
        self.path = str(path)
        self.aliases = dict(aliases or {})
        if not Path(self.path).exists():
            raise InputError(
                f"{self.path}: FASTA file not found; check the 'reference' config key."
            )
        self._fasta: pyfaidx.Fasta | None = None

    @property
    def fasta(self) -> pyfaidx.Fasta:
        """The open :class:`pyfaidx.Fasta` (opened on first use, e.g. in each worker)."""
        if self._fasta is None:
            try:
                self._fasta = pyfaidx.Fasta(self.path, as_raw=True, sequence_always_upper=True)
            except Exception as exc:  # pyfaidx raises many types for a bad index or gzip
                raise InputError(
                    f"{self.path}: cannot open FASTA ({type(exc).__name__}: {exc}). A bgzipped FASTA "
                    f"needs a matching .fai and .gzi (run 'samtools faidx {self.path}'); a plain "
                    f"gzip file must be recompressed with bgzip."
                ) from exc
        return self._fasta

    def contig_name(self, name: str) -> str:
        """Spelling of contig ``name`` in this FASTA (see :func:`ps2f.io.contigs.resolve_contig`)."""
        return resolve_contig(name, self.fasta.keys(), self.path, self.aliases)

    def contig_length(self, name: str) -> int:
        """Length in bp of contig ``name``."""
        return len(self.fasta[self.contig_name(name)])

    def fetch_codes(self, contig: str, start: int, end: int) -> np.ndarray:
        """Reference codes of ``contig[start:end]`` (0-based, half-open), N-padded off the ends.

        Parameters
        ----------
        contig : str
            Contig name in any spelling :meth:`contig_name` resolves.
        start, end : int
            Window in bp; may extend past either end of the contig.

        Returns
        -------
        numpy.ndarray, shape (end - start,), uint8
            Codes as defined in :mod:`ps2f.genome.encoding`.
        """
        name = self.contig_name(contig)
        start, end = int(start), int(end)  # pyfaidx's bgzip path rejects NumPy integers
        length = len(self.fasta[name])
        out = np.full(end - start, N_CODE, dtype=np.uint8)
        lo, hi = max(start, 0), min(end, length)
        if hi > lo:
            out[lo - start : hi - start] = encode(self.fasta[name][lo:hi])
        return out

    def fetch_string(self, contig: str, start: int, end: int) -> str:
        """Upper-case sequence of ``contig[start:end]`` clipped to the contig (0-based, half-open)."""
        name = self.contig_name(contig)
        start, end = int(start), int(end)
        length = len(self.fasta[name])
        return self.fasta[name][max(start, 0) : min(end, length)]
