"""PLINK 2 (``.pgen``/``.pvar``/``.psam``) ingestion (pgenlib) into a variant or dosage store.

The format of biobank-scale genotype releases (UK Biobank, All of Us, ...). :func:`ingest_pgen`
reads phased hard calls into a :class:`~ps2f.genome.store.VariantStore`, and
:func:`ingest_pgen_dosages` ALT allele dosages (hard calls, phased or not, or the PGEN's
dosages) into a :class:`~ps2f.genome.store.DosageStore`, with the same per-record logic as the
VCF reader (:mod:`ps2f.io.records`: window filtering, deletions reaching a window from
upstream, REF against the FASTA, multi-allelic split, skipped ALTs, duplicates, missing policy,
phasing), so a store read from a PGEN equals the store read from the VCF it was made from
(``plink2 --vcf ... --make-pgen``). The ``.pvar`` lists records by POS; for the variant store
each record's end is computed too (POS + len(REF) - 1, or INFO/END for a symbolic ALT, as a VCF
index spans it), so that a long deletion starting before a window and reaching into it is kept,
as from the VCF.

Files: ``x.pgen`` names the fileset; ``x.pvar`` and ``x.psam`` are read from beside it (same
stem). Supported:

* ``.pvar``: plain text with a ``#CHROM`` header line (columns CHROM, POS, ID, REF, ALT, and
  optionally QUAL, FILTER, INFO, CM; ``##`` lines before it are skipped), or without a header
  (the ``.bim`` column order CHROM, ID, CM, POS, ALT, REF). ``INFO/END`` is read for symbolic
  ALTs. A zstd-compressed ``x.pvar.zst`` (when there is no ``x.pvar``) is read by pgenlib's
  ``PvarReader`` (plink2's own parser), which reads no INFO: a ``<DEL>`` ALT in the windows, or
  (variant store) before one, since its unknown END may reach into it, is then an error that
  says to decompress it (as is one in a ``.pvar`` without INFO column; a ``<DEL>`` whose INFO
  has no END is counted and skipped, as from a VCF).
* ``.psam``: a ``#FID``/``#IID`` header line (sample ID = the IID column; FID is ignored,
  as ``plink2 --vcf`` writes no FID), or a headerless ``.fam`` (IID = column 2).

Checks (each an :class:`~ps2f.errors.InputError` naming the file and the fix): the three files
exist and are not empty; the ``.pgen`` opens with pgenlib (magic number, header) and its variant
and sample counts equal the ``.pvar``'s and the ``.psam``'s; a ``.pgen`` cut short fails at the
first record it cannot read (named); sample IDs are unique; the ``.pvar`` has records, and
records on the requested contig (else the contigs it has are named); a contig's records are
sorted by POS (plink2 does not require it; ``plink2 --sort-vars`` fixes it).

What the PGEN format cannot say, and so what differs from a VCF: a call is missing as a whole
(no ``0|.``); PGEN stores phase for heterozygous calls only, so homozygous calls count as phased
in a fileset that has phase and as unphased in one without (``unphased_homozygous_calls`` and
``unphased_calls`` match the VCF's when it was phased, or unphased, throughout); there is no
ploidy (plink2 stores haploid calls as homozygous). Dosages are stored at 1/16,384 precision.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pandas as pd

from ps2f.errors import InputError
from ps2f.genome.store import DosageStore, VariantStore
from ps2f.io.contigs import resolve_contig
from ps2f.io.fasta import Reference
from ps2f.io.harmonize import Harmonizer
from ps2f.io.records import (
    Calls,
    FormatHints,
    Walked,
    check_dosage_field,
    check_missing_policy,
    dosage_rows,
    dosage_store,
    gt_dosage_rows,
    missing_to_reference,
    phased_rows,
    variant_store,
    walk_records,
)

if TYPE_CHECKING:
    import pgenlib

__all__ = ["ingest_pgen", "ingest_pgen_dosages", "is_pgen", "pgen_companions", "read_psam_samples"]

log = logging.getLogger(__name__)

PGEN_HINTS = FormatHints(
    name="PGEN",
    sort="Sort it: 'plink2 --pfile STEM --sort-vars --make-pgen --out sorted'.",
    normalize=(
        "REF/ALT swapped by a plink 1 conversion (fix with 'plink2 --fa FASTA --ref-from-fa "
        "force --make-pgen') or unnormalized alleles ('plink2 --fa FASTA --normalize')"
    ),
    dedup="'plink2 --rm-dup exclude-all' (or force-first)",
)

# pgenlib's code of a missing allele (read_alleles*) and of a missing dosage (read_dosages*)
_MISSING_CODE = -9


def is_pgen(path: str | Path) -> bool:
    """True if ``path`` names a PLINK 2 fileset (it ends with ``.pgen``)."""
    return str(path).endswith(".pgen")


def pgen_companions(path: str | Path) -> tuple[str, str]:
    """The ``.pvar`` and ``.psam`` paths beside ``path`` (``x.pgen`` -> ``x.pvar``, ``x.psam``).

    ``x.pvar.zst`` when there is no ``x.pvar`` but that one exists.
    """
    stem = str(path)[: -len(".pgen")]
    pvar = f"{stem}.pvar"
    if not Path(pvar).exists() and Path(f"{pvar}.zst").exists():
        pvar += ".zst"
    return pvar, f"{stem}.psam"


def _check_exists(path: str, what: str, pgen: str) -> None:
    p = Path(path)
    if not p.exists():
        also = " (or .pvar.zst)" if what == ".pvar" else ""
        raise InputError(
            f"{path}: the {what} file of the PLINK 2 fileset {pgen} is missing; it must sit "
            f"beside the .pgen with the same stem{also} (plink2 --make-pgen writes all three)."
        )
    if p.is_dir() or p.stat().st_size == 0:
        raise InputError(
            f"{path}: the file is empty (0 bytes), e.g. an interrupted download or a failed "
            f"upstream step; re-create the fileset ('plink2 ... --make-pgen')."
        )


def _header_lines(path: str) -> tuple[int, list[str] | None]:
    """Lines before the data of a .pvar/.psam, and the column names of its ``#`` header line."""
    n = 0
    with open(path, errors="replace") as fh:
        for line in fh:
            if line.startswith("##"):
                n += 1
                continue
            if line.startswith("#"):
                return n + 1, line[1:].rstrip("\r\n").split()
            break
    return n, None


def read_psam_samples(path: str | Path) -> list[str]:
    """Sample IDs (IIDs) of a PLINK 2 fileset, in ``.pgen`` order.

    Parameters
    ----------
    path : str or Path
        The ``.pgen`` (the ``.psam`` beside it is read) or the ``.psam`` itself.

    Returns
    -------
    list of str

    Raises
    ------
    InputError
        A missing or empty ``.psam``, one without an IID column or samples, or repeated IIDs.
    """
    path = str(path)
    psam = pgen_companions(path)[1] if is_pgen(path) else path
    _check_exists(psam, ".psam", path)
    skip, columns = _header_lines(psam)
    if columns is None:  # a .fam: FID IID PAT MAT SEX PHENO
        iid = 1
    elif "IID" in columns:
        iid = columns.index("IID")
    else:
        raise InputError(
            f"{psam}: the header line #{' '.join(columns)} has no IID column; a .psam starts "
            f"with '#IID' or '#FID IID' (re-create it with plink2 --make-pgen)."
        )
    try:
        samples = pd.read_csv(
            psam, sep=r"\s+", skiprows=skip, header=None, usecols=[iid], dtype=str,
            keep_default_na=False, na_filter=False, engine="c",
        )[iid].tolist()
    except pd.errors.EmptyDataError:
        samples = []
    if not samples:
        raise InputError(f"{psam}: the .psam lists no samples; genotypes are needed.")
    dup = sorted(s for s, c in Counter(samples).items() if c > 1)
    if dup:
        raise InputError(
            f"{psam}: sample IDs (IID) repeat: {dup[:5]}; ps2f names individuals by IID alone. "
            f"Rename them ('plink2 --pfile STEM --update-ids NEW_IDS.txt --make-pgen --out "
            f"renamed'), or drop the copies."
        )
    return samples


_BIM_COLUMNS = ["CHROM", "ID", "CM", "POS", "ALT", "REF"]


class _PvarColumns(NamedTuple):
    """A ``.pvar`` read column-wise; strings of chosen rows only on request."""

    chrom: np.ndarray  # (n_variants,) str
    pos: np.ndarray  # (n_variants,) int64, 1-based
    offsets: np.ndarray | None  # (n_variants + 1,) uintp allele index offsets; None: biallelic
    fields: Callable[[np.ndarray], tuple[list[str], list[str], list[str]]]  # rows -> ID, REF, ALT
    # rows -> REF length (int64), whether an ALT is symbolic (<...>), whether one is <DEL> (bool)
    spans: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]
    # rows -> INFO/END (str, NaN where absent); None: the .pvar has no INFO to read
    info_end: Callable[[np.ndarray], pd.Series] | None


def _text_columns(pvar: str) -> _PvarColumns:
    """A plain-text ``.pvar`` through pandas (C parser)."""
    skip, columns = _header_lines(pvar)
    if columns is None:  # headerless: .bim order, CM optional
        with open(pvar) as fh:
            for _ in range(skip):
                fh.readline()
            n_columns = len(fh.readline().split())
        columns = {6: _BIM_COLUMNS, 5: ["CHROM", "ID", "POS", "ALT", "REF"]}.get(n_columns, [])
    need = ["CHROM", "POS", "ID", "REF", "ALT"]
    if not set(need) <= set(columns):
        raise InputError(
            f"{pvar}: cannot find the columns {need} (header: {columns or 'none'}); a .pvar "
            f"starts with '#CHROM POS ID REF ALT' (or is headerless in .bim order). Re-create "
            f"it with plink2 --make-pgen."
        )

    def read(use: list[str]) -> pd.DataFrame:
        try:
            return pd.read_csv(
                pvar, sep="\t", skiprows=skip, header=None, names=columns, usecols=use,
                dtype={c: str for c in use if c != "POS"} | {"POS": np.int64},
                keep_default_na=False, na_filter=False, engine="c",
            )
        except pd.errors.EmptyDataError:
            return pd.DataFrame(columns=use)
        except (ValueError, pd.errors.ParserError) as exc:
            raise InputError(
                f"{pvar}: cannot read it as a tab-separated .pvar ({exc}); check the POS "
                f"column (integers) and the column count of each line."
            ) from None

    table = read(need)
    n_alleles = table["ALT"].str.count(",").to_numpy(np.int64) + 2
    offsets = None
    if (n_alleles > 2).any():
        offsets = np.zeros(len(table) + 1, dtype=np.uintp)
        offsets[1:] = np.cumsum(n_alleles)

    def fields(rows: np.ndarray) -> tuple[list[str], list[str], list[str]]:
        sub = table.iloc[rows]
        return sub["ID"].tolist(), sub["REF"].tolist(), sub["ALT"].tolist()

    def spans(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        alt = table["ALT"].iloc[rows]
        symbolic = alt.str.contains("<", regex=False).to_numpy(bool)
        has_del = np.zeros(len(rows), dtype=bool)
        has_del[symbolic] = alt[symbolic].str.contains("<DEL>", regex=False).to_numpy(bool)
        return table["REF"].iloc[rows].str.len().to_numpy(np.int64), symbolic, has_del

    def info_end(rows: np.ndarray) -> pd.Series:
        info = read(["INFO"])["INFO"].iloc[rows]
        return info.str.extract(r"(?:^|;)END=(\d+)(?:;|$)")[0]

    return _PvarColumns(
        table["CHROM"].to_numpy(dtype=str),
        table["POS"].to_numpy(np.int64),
        offsets,
        fields,
        spans,
        info_end if "INFO" in columns else None,
    )


def _zst_columns(pvar: str) -> _PvarColumns:
    """A zstd-compressed ``.pvar.zst`` through pgenlib's ``PvarReader`` (plink2's parser).

    It reads no INFO column.
    """
    import pgenlib

    try:
        reader = pgenlib.PvarReader(pvar.encode())
    except RuntimeError as exc:
        msg = exc.args[0].decode(errors="replace") if isinstance(exc.args[0], bytes) else exc
        raise InputError(
            f"{pvar}: pgenlib cannot read it as a .pvar.zst ({str(msg).strip()}); check it with "
            f"'zstd -dc {pvar} | head', or re-create the fileset."
        ) from None
    n = reader.get_variant_ct()
    chrom = np.array([reader.get_variant_chrom(i).decode() for i in range(n)], dtype=str)
    pos = np.fromiter((reader.get_variant_pos(i) for i in range(n)), np.int64, n)
    offsets = reader.get_allele_idx_offsets() if reader.get_max_allele_ct() > 2 else None
    counts = np.diff(reader.get_allele_idx_offsets()).astype(np.int64)

    def fields(rows: np.ndarray) -> tuple[list[str], list[str], list[str]]:
        ids, refs, alts = [], [], []
        for i in rows.tolist():
            ids.append(reader.get_variant_id(i).decode())
            refs.append(reader.get_allele_code(i, 0).decode())
            alt = (reader.get_allele_code(i, k).decode() for k in range(1, counts[i]))
            alts.append(",".join(alt))
        return ids, refs, alts

    def spans(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        ref_len = np.zeros(len(rows), dtype=np.int64)
        symbolic = np.zeros(len(rows), dtype=bool)
        has_del = np.zeros(len(rows), dtype=bool)
        for j, i in enumerate(rows.tolist()):
            ref_len[j] = len(reader.get_allele_code(i, 0))
            alts = [reader.get_allele_code(i, k) for k in range(1, counts[i])]
            symbolic[j] = any(a.startswith(b"<") for a in alts)
            has_del[j] = b"<DEL>" in alts
        return ref_len, symbolic, has_del

    return _PvarColumns(chrom, pos, offsets, fields, spans, None)


#: the END of a <DEL> whose INFO cannot be read: it may reach any window (an error if it can)
_UNKNOWN_END = np.iinfo(np.int64).max // 2


class _ContigPvar:
    """The ``.pvar`` records of one contig, handed out window by window.

    Only the records of a window become Python strings (a biobank ``.pvar`` has millions);
    INFO is read once, and only when a symbolic ALT needs its END. With ``upstream``, the
    furthest end of the records so far (``reach``) finds the records that start before a window
    and reach into it: every record's end is computed up front (its REF length; INFO/END for
    symbolic ALTs, as the index of a VCF spans them).
    """

    def __init__(self, path: str, cols: _PvarColumns, chrom: str, upstream: bool) -> None:
        self.path, self.cols, self.chrom = path, cols, chrom
        self.rows = np.flatnonzero(cols.chrom == chrom)  # variant indices in the .pgen
        self.pos = cols.pos[self.rows]  # 1-based
        self.n_variants = len(cols.pos)
        self.allele_idx_offsets = cols.offsets
        self._info_end: dict[int, int] | None = None
        self._symbolic: np.ndarray | None = None  # (N,) bool: a symbolic ALT (<...>)
        self.end = self.reach = None
        if upstream and len(self.rows):
            ref_len, self._symbolic, has_del = cols.spans(self.rows)
            end = self.pos + ref_len - 1  # 1-based inclusive, as a VCF record's end
            if cols.info_end is not None:
                for i, e in self._symbolic_ends().items():
                    end[i] = e
            else:  # no INFO: a <DEL>'s length is unknown, so it may reach any window
                end[has_del] = _UNKNOWN_END
            self.end, self.reach = end, np.maximum.accumulate(end)

    def _symbolic_ends(self) -> dict[int, int]:
        """INFO/END of the contig's records with a symbolic ALT, by index into ``rows``.

        The INFO column is read once, at the first call.
        """
        if self._info_end is None:
            if self._symbolic is None:
                self._symbolic = self.cols.spans(self.rows)[1]
            sym = np.flatnonzero(self._symbolic)
            ends = self.cols.info_end(self.rows[sym]) if sym.size else pd.Series([], dtype=str)
            found = ends.notna().to_numpy()
            self._info_end = dict(
                zip(sym[found].tolist(), ends[found].astype(np.int64).tolist(), strict=True)
            )
        return self._info_end

    def records_in(self, start: int, end: int) -> list[_PgenRecord]:
        """The records of ``[start, end)`` (0-based), in file order, for ``walk_records``.

        Those starting in it, and with ``upstream`` those starting before ``start`` whose end
        passes it.
        """
        pos0 = self.pos - 1
        hi = int(np.searchsorted(pos0, end))
        if self.reach is None:
            idx = np.arange(int(np.searchsorted(pos0, start)), hi)
        else:
            idx = np.arange(int(np.searchsorted(self.reach, start, side="right")), hi)
            idx = idx[(pos0[idx] >= start) | (self.end[idx] > start)]
        if not idx.size:
            return []
        ids, refs, alts = self.cols.fields(self.rows[idx])
        out = []
        for i, vid, ref, alt in zip(idx.tolist(), ids, refs, alts, strict=True):
            pos = int(self.pos[i])
            rec_end = pos + len(ref) - 1
            if "<" in alt and self.cols.info_end is not None:
                rec_end = self._symbolic_ends().get(i, rec_end)
            elif "<DEL>" in alt:
                self._no_info(pos, upstream=pos - 1 < start)
            out.append(
                _PgenRecord(
                    self.chrom, pos, None if vid == "." else vid, ref,
                    [] if alt == "." else alt.split(","), rec_end, int(self.rows[i]),
                )
            )
        return out

    def _no_info(self, pos: int, upstream: bool) -> None:
        """Raise: a ``<DEL>`` at ``pos`` needs an END the ``.pvar`` cannot give."""
        pvar = self.path
        raise InputError(
            f"{pvar}: record {self.chrom}:{pos} has a <DEL> ALT, whose deleted bases "
            f"INFO/END gives, but "
            + (
                "pgenlib reads no INFO from a .pvar.zst: decompress it beside the .pgen "
                f"('zstd -d {pvar}')."
                if pvar.endswith(".zst")
                else "the .pvar has no INFO column: re-create it with its INFO column "
                "(plink2 --make-pgen keeps a non-empty INFO unless told otherwise)."
            )
            + (" (It starts before a window, and may delete bases inside it.)" if upstream else "")
        )


def _read_pvar(
    pvar: str, contig: str, aliases: Mapping[str, str] | None, upstream: bool
) -> _ContigPvar:
    """Read the ``.pvar``: allele counts of every variant, and the records of ``contig``.

    With ``upstream``, each record's end too (see :class:`_ContigPvar`).
    """
    cols = _zst_columns(pvar) if pvar.endswith(".zst") else _text_columns(pvar)
    if not len(cols.pos):
        raise InputError(
            f"{pvar}: the .pvar has a header but no records; every individual would get the "
            f"reference genome. Re-create the fileset."
        )
    chrom = resolve_contig(contig, pd.unique(cols.chrom).tolist(), pvar, aliases)
    pos = cols.pos[cols.chrom == chrom]
    if pos.size > 1 and (np.diff(pos) < 0).any():
        i = int(np.flatnonzero(np.diff(pos) < 0)[0])
        raise InputError(
            f"{pvar}: record {chrom}:{pos[i + 1]} comes after {chrom}:{pos[i]}: the variants "
            f"of {chrom} are not sorted by position. {PGEN_HINTS.sort}"
        )
    return _ContigPvar(pvar, cols, chrom, upstream)


class _PgenRecord(NamedTuple):
    """One ``.pvar`` record, spelled as :class:`ps2f.io.records.Record` wants it."""

    CHROM: str
    POS: int
    ID: str | None
    REF: str
    ALT: list[str]
    end: int
    index: int  # variant index in the .pgen


class _Fileset(NamedTuple):
    pgen: str
    reader: pgenlib.PgenReader
    pvar: _ContigPvar
    samples: np.ndarray  # (S,) str, the kept samples in .pgen order
    fasta_contig: str


def _open_fileset(
    path: str,
    reference: Reference,
    contig: str,
    samples: Sequence[str] | None,
    contig_aliases: Mapping[str, str] | None,
    upstream: bool = False,
) -> _Fileset:
    """Check and open the three files; the reader keeps ``samples`` (default all).

    Only the ``.pvar`` records of ``contig`` are kept (the walk reads no others); with
    ``upstream``, their ends too, to find the records reaching a window from upstream.
    """
    pvar_path, psam_path = pgen_companions(path)
    _check_exists(path, ".pgen", path)
    _check_exists(pvar_path, ".pvar", path)
    all_samples = read_psam_samples(path)
    pvar = _read_pvar(pvar_path, contig, contig_aliases, upstream)
    fasta_contig = reference.contig_name(contig)
    reference.contig_length(fasta_contig)  # an unknown contig fails before any record is read
    keep = np.arange(len(all_samples), dtype=np.uint32)
    if samples is not None:
        where = {s: i for i, s in enumerate(all_samples)}
        absent = sorted(set(samples) - set(where))
        if absent:
            raise InputError(f"{psam_path}: requested samples absent from the PGEN: {absent[:5]}")
        keep = np.sort(np.fromiter((where[s] for s in samples), np.uint32, len(samples)))
    try:
        import pgenlib
    except ImportError:
        raise InputError(
            f"{path}: reading PLINK 2 .pgen files needs pgenlib: 'pip install pgenlib==0.95.1' "
            f"(in requirements.txt), or give a VCF/BCF instead."
        ) from None
    try:
        reader = pgenlib.PgenReader(
            path.encode(),
            raw_sample_ct=len(all_samples),
            variant_ct=pvar.n_variants,
            sample_subset=keep if len(keep) < len(all_samples) else None,
            allele_idx_offsets=pvar.allele_idx_offsets,
        )
    except RuntimeError as exc:
        msg = exc.args[0].decode(errors="replace") if isinstance(exc.args[0], bytes) else exc
        msg = str(msg).strip().rstrip(".")
        raise InputError(
            f"{path}: pgenlib cannot open it with {pvar.n_variants:,} variants ({pvar_path}) "
            f"and {len(all_samples):,} samples ({psam_path}): {msg}. The three "
            f"files must come from one 'plink2 --make-pgen' run, and be complete (not cut "
            f"short by an interrupted copy); re-create the fileset."
        ) from None
    kept = np.asarray(all_samples, dtype=str)[keep]
    return _Fileset(path, reader, pvar, kept, fasta_contig)


def _walk(
    fs: _Fileset, reference: Reference, windows: Sequence[tuple[int, int]], snvs_only: bool,
    calls: Calls, harmonizer: Harmonizer | None = None,
) -> Walked:
    """The contig's records in ``windows`` through :func:`ps2f.io.records.walk_records`.

    Records reaching a window from upstream are kept when the ``.pvar`` was read with
    ``upstream`` (the variant store), as from a VCF.
    """
    try:
        return walk_records(
            fs.pgen, reference, fs.fasta_contig, fs.samples, windows, fs.pvar.records_in,
            snvs_only, calls, PGEN_HINTS, upstream_overlaps=fs.pvar.reach is not None,
            harmonizer=harmonizer,
        )
    finally:
        fs.reader.close()


@contextmanager
def _read_errors(where: str) -> Iterator[None]:
    """Turn pgenlib's read errors (a .pgen cut short or corrupt) into an InputError."""
    try:
        yield
    except RuntimeError as exc:
        raise InputError(
            f"{where}: pgenlib cannot read its genotypes ({exc}): the .pgen is truncated or "
            f"corrupt (an interrupted copy?). Re-create the fileset ('plink2 ... --make-pgen')."
        ) from None


def _hardcalls(fs: _Fileset) -> Callable[[_PgenRecord, str], tuple[np.ndarray, ...]]:
    """A reader of hard calls: ``read(rec, where)`` -> ``a, b, phased``.

    ``a``, ``b``: the two calls' allele indices, (S,) int32 (-1: missing); ``phased``: (S,) bool.
    """
    n = len(fs.samples)
    codes = np.empty(2 * n, dtype=np.int32)
    phase = np.empty(n, dtype=np.uint8)
    # pgenlib reads homozygous calls as phased; in a fileset without any phase they are not
    # (as the unphased VCF it came from said), so that the phase counts match the VCF's
    phase_present = fs.reader.hardcall_phase_present()

    def read(rec: _PgenRecord, where: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        with _read_errors(where):
            fs.reader.read_alleles_and_phasepresent(rec.index, codes, phase)
        a = np.where(codes[0::2] == _MISSING_CODE, -1, codes[0::2])
        b = np.where(codes[1::2] == _MISSING_CODE, -1, codes[1::2])
        return a, b, phase.astype(bool) if phase_present else np.zeros(n, dtype=bool)

    return read


def ingest_pgen(
    pgen_path: str | Path,
    reference: Reference,
    contig: str,
    windows: Sequence[tuple[int, int]],
    samples: Sequence[str] | None = None,
    snvs_only: bool = False,
    missing_policy: str = "error",
    contig_aliases: Mapping[str, str] | None = None,
    harmonizer: Harmonizer | None = None,
) -> VariantStore:
    """Read the phased variants of ``contig`` inside ``windows`` of a PGEN into a variant store.

    The PLINK 2 twin of :func:`ps2f.io.vcf.ingest_vcf` (same parameters, same store).

    Parameters
    ----------
    pgen_path : str or Path
        ``x.pgen`` with ``x.pvar`` and ``x.psam`` beside it; phased hard calls.
    reference : Reference
        FASTA every REF allele is checked against.
    contig : str
        Contig as named in the annotation (resolved against the ``.pvar``'s CHROM values).
    windows : sequence of (int, int)
        0-based half-open windows in bp; a record is kept if its POS lies inside one, or if it
        starts before one and its REF (``<DEL>``: INFO/END) reaches into it; the store's
        ``windows`` then include the reference read around such a record (as
        :func:`ps2f.io.vcf.ingest_vcf`).
    samples : sequence of str, optional
        IIDs to keep (default all), kept in ``.psam`` order.
    snvs_only : bool
        Skip every ALT that is not a single-nucleotide substitution.
    missing_policy : {"error", "reference"}
        What to do with a missing call.
    contig_aliases : mapping of str to str, optional
        Explicit contig renames from the config.
    harmonizer : ps2f.io.harmonize.Harmonizer, optional
        Read an external cohort, lined up with the training cohort's alleles
        (:mod:`ps2f.io.harmonize`).

    Returns
    -------
    VariantStore

    Raises
    ------
    ConfigError
        An unknown ``missing_policy``.
    InputError
        The file errors of the module docstring; an unknown contig; a REF that disagrees with
        the FASTA or runs past its contig; a missing call under ``missing_policy="error"``; an
        unphased heterozygous call (an unphased PGEN: the error says the fileset stores no
        phase); a duplicate record.
    """
    path = str(pgen_path)
    check_missing_policy(missing_policy)
    # records reaching a window from upstream (long deletions) are kept, as from a VCF; they
    # are never SNVs
    fs = _open_fileset(path, reference, contig, samples, contig_aliases, upstream=not snvs_only)
    read = _hardcalls(fs)
    no_phase = not fs.reader.hardcall_phase_present()

    def phased_calls(rec, where, samples, stats):
        a, b, phased = read(rec, where)
        a, b, missing = missing_to_reference(a, b, where, samples, stats, missing_policy)
        try:
            return phased_rows(a, b, phased, missing, where, samples, stats)
        except InputError as exc:
            if no_phase:
                raise InputError(
                    f"{exc} The fileset stores no phase at all (a PGEN made from an unphased "
                    f"VCF or a plink 1 .bed): 'plink2 --vcf phased.vcf.gz --make-pgen' keeps "
                    f"the phase of a phased VCF."
                ) from None
            raise

    walked = _walk(fs, reference, windows, snvs_only, phased_calls, harmonizer)
    return variant_store(path, contig, reference, walked)


def ingest_pgen_dosages(
    pgen_path: str | Path,
    reference: Reference,
    contig: str,
    windows: Sequence[tuple[int, int]],
    samples: Sequence[str] | None = None,
    dosage_field: str = "GT",
    snvs_only: bool = True,
    missing_policy: str = "error",
    contig_aliases: Mapping[str, str] | None = None,
) -> DosageStore:
    """Read the ALT allele dosages of ``contig`` inside ``windows`` of a PGEN; phase not needed.

    The PLINK 2 twin of :func:`ps2f.io.vcf.ingest_dosages`: ``GT`` counts the hard calls
    equal to ALT ``k`` (``uint8``); ``DS`` reads the PGEN's dosages of ALT ``k`` (``float32``,
    1/16,384 precision; a variant without stored dosages gives its hard-call dosage, as
    ``plink2 --export vcf vcf-dosage=DS`` writes it).

    Parameters
    ----------
    pgen_path : str or Path
        ``x.pgen`` with ``x.pvar`` and ``x.psam`` beside it.
    reference, contig, samples, snvs_only, contig_aliases
        As :func:`ingest_pgen`.
    windows : sequence of (int, int)
        0-based half-open windows in bp; a record is kept if its POS lies inside one
        (PredictDB's rule, as :func:`ps2f.io.vcf.ingest_dosages`: no upstream records).
    dosage_field : {"GT", "DS"}
        Hard calls or stored dosages.
    missing_policy : {"error", "reference"}
        A missing call or dosage: an error, or dosage 0 (``genotypes_missing_set_to_ref``).

    Returns
    -------
    DosageStore
        ``values`` of shape (V, S), ``uint8`` for ``GT`` or ``float32`` for ``DS``.

    Raises
    ------
    ConfigError
        An unknown ``dosage_field`` or ``missing_policy``.
    InputError
        Every error of :func:`ingest_pgen` but phasing; a dosage outside [0, 2].
    """
    path = str(pgen_path)
    check_missing_policy(missing_policy)
    check_dosage_field(dosage_field)
    fs = _open_fileset(path, reference, contig, samples, contig_aliases)

    if dosage_field == "GT":
        read = _hardcalls(fs)

        def calls(rec, where, samples, stats):
            a, b, phased = read(rec, where)
            a, b, missing = missing_to_reference(a, b, where, samples, stats, missing_policy)
            return gt_dosage_rows(a, b, phased, missing, stats)

    else:
        buf = np.empty(len(fs.samples), dtype=np.float32)

        def calls(rec, where, samples, stats):
            ds = np.zeros((len(samples), max(len(rec.ALT), 1)), dtype=np.float32)
            for k in range(1, len(rec.ALT) + 1):
                with _read_errors(where):
                    fs.reader.read_dosages(rec.index, buf, k)
                ds[:, k - 1] = buf
            ds[ds == _MISSING_CODE] = np.nan
            return dosage_rows(ds, len(rec.ALT), where, samples, stats, missing_policy, "dosage")

    walked = _walk(fs, reference, windows, snvs_only, calls)
    return dosage_store(path, contig, reference, walked, dosage_field)
