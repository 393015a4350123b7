"""ps2f: benchmark personal-genome sequence-to-function models.

Conventions, stated once for the whole package:

* Coordinates are 0-based, half-open, in bp.
* One-hot sequence is ``(N, 4, L)`` in ACGT order; ``N`` (and any other base) is all zeros.
  The layout is defined in :mod:`ps2f.genome.encoding` and nowhere else.
* "r" is the Pearson correlation across individuals, computed per gene.
* Tables are tidy and long; their columns are defined in :mod:`ps2f.schema`.
"""

__version__ = "0.1.0"
