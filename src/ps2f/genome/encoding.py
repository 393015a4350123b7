"""The one place that defines how DNA is encoded.

Sequences travel as uint8 *codes* ``A=0, C=1, G=2, T=3, N=4`` (any other IUPAC letter, and
lower case soft-masked bases are upper-cased first). One-hot arrays are ``(..., 4, L)`` in ACGT
order with ``N`` as all zeros (SAGE-net uses 0.25 for N; we use zeros so that padding carries no
signal).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "ALPHABET",
    "N_CODE",
    "encode",
    "decode",
    "reverse_complement_codes",
    "one_hot",
]

ALPHABET = b"ACGT"
N_CODE = 4

_LUT = np.full(256, N_CODE, dtype=np.uint8)
for _i, _b in enumerate(ALPHABET):
    _LUT[_b] = _i
    _LUT[ord(chr(_b).lower())] = _i
_DECODE = np.frombuffer(b"ACGTN", dtype=np.uint8)
# complement of A,C,G,T,N codes is T,G,C,A,N
_COMPLEMENT = np.array([3, 2, 1, 0, 4], dtype=np.uint8)


def encode(seq: str | bytes | np.ndarray) -> np.ndarray:
    """Encode DNA letters as uint8 codes.

    Parameters
    ----------
    seq : str, bytes or numpy.ndarray of uint8 (ASCII)
        DNA letters, any case. Letters other than ACGT (N, IUPAC codes) become ``N``.

    Returns
    -------
    numpy.ndarray, shape (L,), uint8
        Codes in ``0..4``.
    """
    if isinstance(seq, str):
        seq = seq.encode("ascii")
    buf = (
        np.frombuffer(seq, dtype=np.uint8) if isinstance(seq, bytes) else np.asarray(seq, np.uint8)
    )
    return _LUT[buf]


def decode(codes: np.ndarray) -> str:
    """Decode uint8 codes (shape ``(L,)``) back to an ``ACGTN`` string."""
    return _DECODE[np.asarray(codes, dtype=np.uint8)].tobytes().decode("ascii")


def reverse_complement_codes(codes: np.ndarray) -> np.ndarray:
    """Reverse-complement codes along the last axis.

    Parameters
    ----------
    codes : numpy.ndarray, shape (..., L), uint8

    Returns
    -------
    numpy.ndarray, shape (..., L), uint8
    """
    return _COMPLEMENT[codes[..., ::-1]]


def one_hot(codes, dtype=None):
    """One-hot encode codes, ``(..., L)`` -> ``(..., 4, L)``, ACGT order, N = zeros.

    Parameters
    ----------
    codes : numpy.ndarray or torch.Tensor, shape (..., L), uint8
        Sequence codes (see module docstring). A torch tensor stays on its device.
    dtype : numpy or torch dtype, optional
        Output dtype; float32 by default.

    Returns
    -------
    numpy.ndarray or torch.Tensor, shape (..., 4, L)
        Same array library as the input.
    """
    if isinstance(codes, np.ndarray):
        eye = np.concatenate(
            [np.eye(4, dtype=dtype or np.float32), np.zeros((1, 4), dtype or np.float32)]
        )
        return np.moveaxis(eye[codes], -1, -2)
    import torch  # local import: this module must stay importable without torch

    eye = torch.cat([torch.eye(4), torch.zeros(1, 4)]).to(
        device=codes.device, dtype=dtype or torch.float32
    )
    return eye[codes.long()].movedim(-1, -2)
