"""Reference sequence access through pyfaidx (plain or bgzipped FASTA with ``.fai``).

Policies for imperfect references (see also :mod:`ps2f.genome.encoding`):

* a missing ``.fai`` (and, for a bgzipped FASTA, ``.gzi``) is built next to the FASTA, and one
  older than the FASTA is rebuilt (pyfaidx does both; ps2f logs it); a FASTA in a read-only
  folder without an index is an :class:`~ps2f.errors.InputError`, and an older index in a
  read-only folder is kept (a logged warning) and checked like any other;
* a FASTA that cannot be indexed says why and how to fix it: lines of a contig of unequal
  width or a blank line inside one (with the contig and line), a repeated contig name, text
  before the first ``>``, plain gzip; classic Mac OS line ends (a lone CR) and characters other
  than letters inside a sequence line (a space, a digit, a ``-``) are errors too (Windows CRLF
  is read correctly);
* an index newer than the FASTA but describing another file (copied from elsewhere, or the
  FASTA edited in place and its time stamp restored) is an :class:`~ps2f.errors.InputError`:
  every contig's first line, line width and end are checked against the file when it is opened,
  so a stale index cannot hand out wrong bases;
* lower-case (soft-masked) bases are read as upper case; ``N`` and the other IUPAC codes are
  read as ``N`` (an all-zero one-hot column);
* a window that runs off either end of a contig is padded with ``N``.
"""

from __future__ import annotations

import errno
import logging
import os
import struct
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pyfaidx

from ps2f.errors import InputError
from ps2f.genome.encoding import N_CODE, encode
from ps2f.io.contigs import resolve_contig

__all__ = ["Reference"]

log = logging.getLogger(__name__)

#: contigs whose .fai entry is checked against the file when it is opened (all of them up to
#: this many; beyond, an evenly spaced subset that includes the first and the last)
MAX_CHECKED_CONTIGS = 5000
_BGZF_MAGIC = b"\x1f\x8b\x08\x04"
_NOT_WRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS)


class _RawReader:
    """Bytes of a plain or BGZF file at uncompressed offsets (BGZF through its ``.gzi``)."""

    def __init__(self, path: str, bgzf: bool):
        self.bgzf = bgzf
        if bgzf:
            from Bio import bgzf as _bgzf

            with open(path + ".gzi", "rb") as fh:
                (n,) = struct.unpack("<Q", fh.read(8))
                pairs = np.frombuffer(fh.read(16 * n), dtype="<u8").reshape(-1, 2)
            # (compressed start, uncompressed start) of every block, the first block included
            self.blocks = np.vstack([[0, 0], pairs]).astype(np.int64)
            self.fh = _bgzf.BgzfReader(path, "rb")
        else:
            self.fh = open(path, "rb")

    def read(self, offset: int, n: int) -> bytes:
        """``n`` bytes from uncompressed ``offset >= 0`` (fewer at the end of the file)."""
        if n <= 0:
            return b""
        if self.bgzf:
            from Bio import bgzf as _bgzf

            i = int(np.searchsorted(self.blocks[:, 1], offset, side="right")) - 1
            cstart, ustart = (int(x) for x in self.blocks[i])
            self.fh.seek(_bgzf.make_virtual_offset(cstart, offset - ustart))
        else:
            self.fh.seek(offset)
        return self.fh.read(n)

    def close(self) -> None:
        self.fh.close()


def _check_index(path: str, records: Mapping[str, object], bgzf: bool) -> None:
    """Check every (or a spread of) ``.fai`` entries against the FASTA's bytes.

    Parameters
    ----------
    path : str
        The FASTA.
    records : mapping of str to pyfaidx.IndexRecord
        Contig name -> its index record (``rlen``, ``offset``, ``lenc``, ``lenb``).
    bgzf : bool
        Whether the FASTA is BGZF-compressed (read through its ``.gzi``).

    Raises
    ------
    InputError
        At the first entry whose header line, line width or end does not match the file.
    """
    names = list(records)
    if len(names) > MAX_CHECKED_CONTIGS:
        picks = np.unique(np.linspace(0, len(names) - 1, MAX_CHECKED_CONTIGS).astype(int))
        names = [names[i] for i in picks]
    try:
        reader = _RawReader(path, bgzf)
    except (OSError, ValueError, struct.error) as exc:
        raise InputError(
            f"{path}: cannot read the FASTA or its .gzi ({type(exc).__name__}: {exc}). Delete "
            f"{path}.fai and {path}.gzi and re-index with 'samtools faidx {path}'."
        ) from None
    try:
        for name in names:
            problem = _entry_problem(reader, name, records[name])
            if problem:
                raise InputError(
                    f"{path}.fai does not match the FASTA: for contig {name!r} the index says "
                    f"{int(records[name].rlen):,} bp in lines of {int(records[name].lenc)} from "
                    f"byte {int(records[name].offset)}, but {problem}. The index "
                    f"was made for another file (or the FASTA changed after indexing). Delete "
                    f"{path}.fai" + (f" and {path}.gzi" if bgzf else "") + " and re-index with "
                    f"'samtools faidx {path}' (ps2f rebuilds a missing index itself)."
                )
    except (OSError, ValueError, EOFError) as exc:  # Bio.bgzf on a corrupt block or bad .gzi
        raise InputError(
            f"{path}: reading the FASTA at its .fai offsets failed ({type(exc).__name__}: {exc}). "
            f"Delete {path}.fai and {path}.gzi and re-index with 'samtools faidx {path}'."
        ) from None
    finally:
        reader.close()


def _entry_problem(reader: _RawReader, name: str, rec) -> str | None:
    """What is wrong with one ``.fai`` record, or ``None``."""
    rlen, offset, lenc, lenb = int(rec.rlen), int(rec.offset), int(rec.lenc), int(rec.lenb)
    if rlen == 0:
        return None
    if lenc <= 0 or lenb < lenc or offset <= 0:
        return "that is impossible"
    before = reader.read(max(offset - 4096, 0), min(offset, 4096))
    header = before[before.rfind(b"\n", 0, len(before) - 1) + 1 :]
    if not before.endswith(b"\n") or not (
        header.startswith(b">" + name.encode())
        and header[len(name) + 1 : len(name) + 2] in (b" ", b"\t", b"\r", b"\n")
    ):
        if before.endswith(b"\n") and len(before) == 4096 and b"\n" not in before[:-1]:
            pass  # a header line over 4 kB: cannot be checked cheaply, rely on the checks below
        else:
            return f"no header line '>{name}' ends right before that byte"
    if rlen > lenc and reader.read(offset + lenc, lenb - lenc).strip(b"\r\n") != b"":
        return "the first line does not end there"
    last = offset + (rlen - 1) // lenc * lenb + (rlen - 1) % lenc
    tail = reader.read(last, 2)
    if (
        len(tail) < 1
        or tail[:1] in (b"\n", b"\r", b">", b" ")
        or tail[1:2] not in (b"", b"\n", b"\r")
    ):
        return f"the sequence does not end after {rlen:,} bp"
    return None


def _check_line_endings(path: str) -> None:
    """Raise :class:`InputError` if a plain FASTA's lines end in a lone CR (classic Mac OS)."""
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    if head[:2] == b"\x1f\x8b":  # plain gzip: compressed bytes say nothing of line ends
        return
    if b"\r" in head and b"\n" not in head:
        raise InputError(
            f"{path}: the lines end in a carriage return alone (classic Mac OS line endings); "
            f"every contig would read as empty. Convert them: \"tr '\\r' '\\n' < {path} > "
            f"fixed.fa\" and point the 'reference' config key at fixed.fa."
        )


def _open_error(path: str, exc: Exception) -> str:
    """The message for a FASTA that pyfaidx cannot index or open: what is wrong, and the fix."""
    text = str(exc)
    rewrap = (
        f"Rewrap it to one line width, e.g. 'seqkit seq -w 60 {path} > fixed.fa' (samtools "
        f"faidx refuses such a file too), and point the 'reference' config key at fixed.fa"
    )
    if "not consistent" in text or "line length" in text.lower():
        where = text.rsplit("found in ", 1)[-1].rstrip(".") if "found in " in text else ""
        return (
            f"{path}: the sequence lines of a contig are not all one width, or a blank line "
            f"sits inside a contig ({where or text}); a FASTA index needs every line of a contig "
            f"but its last to have the same length. {rewrap}."
        )
    if "Duplicate key" in text:
        return (
            f"{path}: contig name {text.split('Duplicate key', 1)[1].strip()} appears twice; "
            f"rename or drop the copy (e.g. 'seqkit rmdup -n {path} > fixed.fa')."
        )
    if "before the first sequence definition" in text:
        return (
            f"{path}: not a FASTA: the first line is not a '>' header (is it the right file, "
            f"or a FASTA with a text preamble? Remove the lines before the first '>')."
        )
    if "BGZF" in text or type(exc).__name__ == "UnsupportedCompressionFormat":
        return (
            f"{path}: compressed with gzip, not bgzip; random access needs BGZF. Recompress: "
            f"'zcat {path} | bgzip > fixed.fa.gz' and point the 'reference' config key at it."
        )
    if isinstance(exc, PermissionError) or "ermission" in text or "not be writable" in text:
        return (
            f"{path}: cannot open FASTA (no usable .fai index, and none can be built next to "
            f"it: the FASTA's folder may not be writable). Index it where you can write "
            f"('samtools faidx' on a copy or symlink in a writable folder, then point the "
            f"'reference' config key at that copy); the folder must be writable for a missing "
            f"index to be built."
        )
    return (
        f"{path}: cannot open FASTA ({type(exc).__name__}: {exc}). A bgzipped FASTA needs a "
        f"matching .fai and .gzi (run 'samtools faidx {path}'; a missing index is built next to "
        f"the FASTA, so its folder must be writable); a plain gzip file must be recompressed "
        f"with bgzip."
    )


class Reference:
    """A FASTA opened lazily, returning windows as uint8 codes, padded with ``N`` off the ends.

    Parameters
    ----------
    path : str or Path
        FASTA file, plain or bgzip-compressed (then with ``.fai`` and ``.gzi``, built if absent).
    aliases : mapping of str to str, optional
        Explicit contig renames (see :mod:`ps2f.io.contigs`).

    Raises
    ------
    InputError
        If the file is missing or empty; on first use, if it cannot be indexed, its index does
        not match it, or a read fails.
    """

    def __init__(self, path: str | Path, aliases: Mapping[str, str] | None = None):
        self.path = str(path)
        self.aliases = dict(aliases or {})
        p = Path(self.path)
        if not p.exists():
            raise InputError(
                f"{self.path}: FASTA file not found; check the 'reference' config key."
            )
        if p.is_dir() or p.stat().st_size == 0:
            raise InputError(
                f"{self.path}: the FASTA is empty (0 bytes); re-create or re-download it."
            )
        self._fasta: pyfaidx.Fasta | None = None

    @property
    def fasta(self) -> pyfaidx.Fasta:
        """The open :class:`pyfaidx.Fasta` (opened and checked on first use, e.g. per worker)."""
        if self._fasta is None:
            with open(self.path, "rb") as fh:
                bgzf = fh.read(4) == _BGZF_MAGIC
            if not bgzf:
                _check_line_endings(self.path)
            try:
                self._build_missing_or_stale_index(bgzf)
                with warnings.catch_warnings():  # an older index kept in a read-only folder
                    warnings.filterwarnings("ignore", "Index file", RuntimeWarning)
                    fasta = pyfaidx.Fasta(
                        self.path, as_raw=True, sequence_always_upper=True, rebuild=False
                    )
            except Exception as exc:  # pyfaidx raises many types for a bad index or gzip
                raise InputError(_open_error(self.path, exc)) from None
            try:
                _check_index(self.path, fasta.faidx.index, bgzf)
            except InputError:
                fasta.close()
                raise
            self._fasta = fasta
        return self._fasta

    def _build_missing_or_stale_index(self, bgzf: bool) -> None:
        """Build a missing ``.fai`` (and ``.gzi``), or rebuild one older than the FASTA, atomically.

        pyfaidx writes its index in place, so two jobs opening the same FASTA at once (one
        ``genotypes`` job per contig) could read each other's half-written index. Each builder
        writes hidden per-process files and renames them over the final names instead; the
        contents are identical, so the last rename wins harmlessly. Raises whatever pyfaidx
        raises for an unreadable FASTA (the caller turns it into an InputError).
        """
        fasta = Path(self.path)
        fai, gzi = Path(self.path + ".fai"), Path(self.path + ".gzi")
        wanted = [fai, gzi] if bgzf else [fai]
        mtime = fasta.stat().st_mtime
        if all(p.exists() and p.stat().st_mtime >= mtime for p in wanted):
            return
        if not fai.exists():
            log.info("%s: no .fai index; building one next to the FASTA", self.path)
        else:
            log.info("%s: the index is missing or older than the FASTA; rebuilding it", self.path)
        tmp = {p: p.with_name(f".{p.name}.{os.getpid()}.tmp") for p in wanted}
        try:
            pyfaidx.Faidx(
                self.path,
                indexname=str(tmp[fai]),
                gzi_indexname=str(tmp[gzi]) if bgzf else None,
                rebuild=True,
            ).close()
            for p in wanted[::-1]:  # the .gzi first: a reader that sees the new .fai has both
                os.replace(tmp[p], p)
        except OSError as exc:
            # pyfaidx re-raises a failed write as a bare OSError "... may not be writable"
            denied = exc.errno in _NOT_WRITABLE or "may not be writable" in str(exc)
            if not denied or not all(p.exists() for p in wanted):
                raise
            # a read-only folder (a shared reference) with an older index: keep it; the check
            # of every contig's layout against the file when it opens refuses it if it is wrong
            log.warning(
                "%s: the index is older than the FASTA but cannot be rebuilt (%s: %s; a read-only "
                "folder?); using it after checking every contig's layout against the file",
                self.path,
                type(exc).__name__,
                exc,
            )
        finally:
            for t in tmp.values():
                t.unlink(missing_ok=True)

    def contig_name(self, name: str) -> str:
        """Spelling of contig ``name`` in this FASTA (see :func:`ps2f.io.contigs.resolve_contig`)."""
        return resolve_contig(name, self.fasta.keys(), self.path, self.aliases)

    def contig_length(self, name: str) -> int:
        """Length in bp of contig ``name``."""
        return len(self.fasta[self.contig_name(name)])

    def _read(self, name: str, lo: int, hi: int) -> str:
        """Upper-case ``name[lo:hi]``, ``0 <= lo <= hi <= length``, checked for length and ASCII."""
        try:
            seq = self.fasta[name][lo:hi]
        except (pyfaidx.FetchError, OSError, ValueError, UnicodeDecodeError) as exc:
            raise InputError(
                f"{self.path}: reading {name}:{lo + 1}-{hi} failed ({type(exc).__name__}: {exc}); "
                f"the file may be truncated or its .fai stale: re-index with 'samtools faidx "
                f"{self.path}'."
            ) from None
        if len(seq) != hi - lo or not seq.isascii():
            raise InputError(
                f"{self.path}: {name}:{lo + 1}-{hi} read back as {len(seq)} characters"
                f"{'' if seq.isascii() else ' with non-ASCII bytes'} instead of {hi - lo} bases; "
                f"the file is truncated or its .fai stale: re-index with 'samtools faidx "
                f"{self.path}'."
            )
        if not seq.isalpha():
            bad = next(i for i, c in enumerate(seq) if not c.isalpha())
            raise InputError(
                f"{self.path}: {name}:{lo + bad + 1} holds {seq[bad]!r}, not a base letter (a "
                f"space, tab, digit or gap inside a sequence line); the FASTA is malformed. "
                f"Remove the stray characters and rewrap, e.g. \"sed '/^>/!s/[^A-Za-z]//g' "
                f"{self.path} | seqkit seq -w 60 > fixed.fa\", and point the 'reference' config "
                f"key at fixed.fa."
            )
        return seq

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

        Raises
        ------
        InputError
            If the read fails or returns the wrong number of bases (a truncated file).
        """
        name = self.contig_name(contig)
        start, end = int(start), int(end)  # pyfaidx's bgzip path rejects NumPy integers
        length = len(self.fasta[name])
        out = np.full(max(end - start, 0), N_CODE, dtype=np.uint8)
        lo, hi = max(start, 0), min(end, length)
        if hi > lo:
            out[lo - start : hi - start] = encode(self._read(name, lo, hi))
        return out

    def fetch_string(self, contig: str, start: int, end: int) -> str:
        """Upper-case sequence of ``contig[start:end]`` clipped to the contig (0-based, half-open).

        Raises
        ------
        InputError
            If the read fails or returns the wrong number of bases (a truncated file).
        """
        name = self.contig_name(contig)
        start, end = int(start), int(end)
        length = len(self.fasta[name])
        lo, hi = max(start, 0), min(end, length)
        return self._read(name, lo, hi) if hi > lo else ""
