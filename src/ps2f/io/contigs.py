"""Contig-name harmonization between files (``22`` vs ``chr22``, ``MT`` vs ``chrM``).

Rule (documented in the README): a name is looked up verbatim first; failing that, an explicit
alias from the config is tried; failing that, the ``chr`` prefix is toggled (``chr22`` <-> ``22``),
with ``chrM`` <-> ``MT`` as the one special case. Anything else is an error that lists the names
the file does have.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ps2f.errors import InputError

__all__ = ["resolve_contig", "candidate_names"]


def candidate_names(name: str, aliases: Mapping[str, str] | None = None) -> list[str]:
    """Names under which ``name`` may appear in another file, most specific first.

    Parameters
    ----------
    name : str
        Contig name as given (e.g. ``"chr22"``).
    aliases : mapping of str to str, optional
        Explicit renames from the config (``{"chr22": "22"}``), tried before the automatic rule.

    Returns
    -------
    list of str
    """
    out = [name]
    if aliases and name in aliases:
        out.append(aliases[name])
    if name in ("chrM", "chrMT"):
        out.append("MT")
    elif name == "MT":
        out.append("chrM")
    elif name.startswith("chr"):
        out.append(name[3:])
    else:
        out.append("chr" + name)
    return list(dict.fromkeys(out))


def resolve_contig(
    name: str,
    available: Iterable[str],
    source: str,
    aliases: Mapping[str, str] | None = None,
) -> str:
    """Return the spelling of contig ``name`` used by a file.

    Parameters
    ----------
    name : str
        Contig name as used elsewhere in ps2f (e.g. from the TSS table).
    available : iterable of str
        Contig names the file has (FASTA index keys, VCF index sequence names, ...).
    source : str
        The file's path, named in the error message.
    aliases : mapping of str to str, optional
        Explicit renames from the config.

    Returns
    -------
    str
        The name as the file spells it.

    Raises
    ------
    InputError
        If no candidate spelling is present in the file.
    """
    available = list(available)
    have = set(available)
    for cand in candidate_names(name, aliases):
        if cand in have:
            return cand
    shown = ", ".join(available[:10]) + (" ..." if len(available) > 10 else "")
    raise InputError(
        f"{source}: contig {name!r} not found (tried {candidate_names(name, aliases)}); "
        f"the file has: {shown}. Check the genome build, or add an explicit mapping under "
        f"'contig_aliases' in the config."
    )
