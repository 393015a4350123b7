"""Training-time augmentation of uint8 sequence codes: reverse complement and shifts.

Both act on whole items: an item's haplotypes (``H = 2``) or its reference (``H = 1``) get the
same flip and the same shift, so the differences between an individual's haplotypes stay
aligned. They run on the codes in the DataLoader worker (4x fewer bytes than one-hot), before
the batch reaches the device.

Shift (``max_shift_bp``)
    Each item is moved by an integer ``s`` drawn uniformly from ``[-max_shift_bp,
    max_shift_bp]``: ``out[..., j] = codes[..., j - s]``, and the ``|s|`` positions vacated at one
    end are filled with ``N`` (code 4, one-hot all zeros) rather than wrapped around. The TSS
    thus moves by ``s`` bp. A wrap-around roll would put the far downstream end next to the
    upstream end (sequence that never sits there); fetching a wider window and cropping would
    avoid the ``N`` edge but tie the augmentation to the sequence source. Filling with ``N`` is
    what "unknown sequence" already means in the one-hot convention, and for shifts of a few
    percent of the window it touches only the edge the model weighs least. (SAGE-net itself
    uses no shift augmentation, only reverse complement.)
Reverse complement
    With probability 1/2 per item (:func:`ps2f.genome.encoding.reverse_complement_codes`).
    Applied after the shift.

Randomness: :func:`batch_rng` seeds one generator per (seed, epoch, batch), so the draws do not
depend on which DataLoader worker builds a batch nor on the number of workers, and a resumed run
draws exactly what an uninterrupted one would.
"""

from __future__ import annotations

import numpy as np

from ps2f.genome.encoding import reverse_complement_codes

__all__ = ["N_CODE", "batch_rng", "shift_codes", "augment_codes"]

#: Code of an unknown base (one-hot all zeros); see :mod:`ps2f.genome.encoding`.
N_CODE = 4


def batch_rng(seed: int, epoch: int, batch: int) -> np.random.Generator:
    """The augmentation generator of one batch.

    Parameters
    ----------
    seed, epoch, batch : int
        Training seed, 1-based epoch and 0-based batch number within the epoch.

    Returns
    -------
    numpy.random.Generator
    """
    return np.random.default_rng([int(seed), int(epoch), int(batch), 0xA5])


def shift_codes(codes: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Shift each item's sequences along the last axis, filling vacated positions with N.

    Parameters
    ----------
    codes : numpy.ndarray, shape (B, H, L), uint8
        Sequence codes (``A=0, C=1, G=2, T=3, N=4``).
    shifts : numpy.ndarray, shape (B,), int
        Shift of each item in bp; positive moves the sequence towards higher indices
        (``out[b, :, j] = codes[b, :, j - shifts[b]]``).

    Returns
    -------
    numpy.ndarray, shape (B, H, L), uint8
        A new array.

    Raises
    ------
    ValueError
        If ``codes`` is not 3-D or ``shifts`` does not have one entry per item.
    """
    codes = np.asarray(codes)
    if codes.ndim != 3:
        raise ValueError(f"codes must be (batch, haplotypes, length), got shape {codes.shape}")
    shifts = np.asarray(shifts, dtype=np.int64).reshape(-1)
    if len(shifts) != codes.shape[0]:
        raise ValueError(f"{len(shifts)} shifts for {codes.shape[0]} items")
    length = codes.shape[-1]
    src = np.arange(length)[None, :] - shifts[:, None]  # (B, L)
    valid = (src >= 0) & (src < length)
    gathered = np.take_along_axis(codes, np.clip(src, 0, length - 1)[:, None, :], axis=-1)
    return np.where(valid[:, None, :], gathered, np.uint8(N_CODE)).astype(np.uint8)


def augment_codes(
    codes: np.ndarray,
    rng: np.random.Generator,
    reverse_complement: bool,
    max_shift_bp: int,
) -> np.ndarray:
    """Apply the configured augmentations to one batch (see the module docstring).

    Parameters
    ----------
    codes : numpy.ndarray, shape (B, H, L), uint8
    rng : numpy.random.Generator
        The batch's generator (:func:`batch_rng`); shifts are drawn before flips.
    reverse_complement : bool
        Flip each item with probability 1/2.
    max_shift_bp : int
        Largest absolute shift in bp (0 = no shift).

    Returns
    -------
    numpy.ndarray, shape (B, H, L), uint8
        ``codes`` itself when nothing applies, else a new or modified array.
    """
    n = codes.shape[0]
    if max_shift_bp > 0:
        codes = shift_codes(codes, rng.integers(-max_shift_bp, max_shift_bp + 1, size=n))
    if reverse_complement:
        flip = rng.random(n) < 0.5
        if flip.any():
            codes = np.array(codes, copy=True)
            codes[flip] = reverse_complement_codes(codes[flip])
    return codes
