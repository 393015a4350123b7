"""Models a user might hand to a ``type: torch_module`` scorer (``callable: user_models:...``).

Imported by tests as ``user_models`` (tests/ is on ``sys.path`` under pytest) and by path
(``tests/user_models.py:conv_tracks``) from workflow runs. Each builder seeds torch, so the
same kwargs give the same weights in every process.
"""

from __future__ import annotations

import torch
from torch import nn


class ConvTracks(nn.Module):
    """A small CNN: one-hot in, ``n_tracks`` tracks per ``bin_bp``-bp bin out.

    Input ``(N, 4, L)`` (``layout="NCL"``) or ``(N, L, 4)`` (``"NLC"``); output
    ``(N, bins, tracks)`` or ``(N, tracks, bins)`` (``out="tracks_bins"``), the bins being the
    centre ``n_bins`` of the ``L / bin_bp`` bins (a centre crop, as Enformer's), or
    ``(N, tracks)`` (``out="scalar"``: the mean over the centre bins).
    """

    def __init__(self, n_tracks=5, bin_bp=16, n_bins=None, layout="NCL", out="bins_tracks"):
        super().__init__()
        self.layout, self.out, self.n_bins = layout, out, n_bins
        self.conv = nn.Conv1d(4, 16, kernel_size=9, padding=4)
        self.pool = nn.AvgPool1d(bin_bp)
        self.head = nn.Conv1d(16, n_tracks, kernel_size=3, padding=1)

    def forward(self, x):
        if self.layout == "NLC":
            assert x.shape[-1] == 4, x.shape
            x = x.transpose(1, 2)
        assert x.shape[1] == 4, x.shape
        y = self.head(self.pool(torch.relu(self.conv(x))))  # (N, tracks, L / bin_bp)
        if self.n_bins is not None:
            crop = (y.shape[-1] - self.n_bins) // 2
            y = y[..., crop : crop + self.n_bins]
        if self.out == "scalar":
            return y.mean(dim=-1)
        return y if self.out == "tracks_bins" else y.transpose(1, 2)


def conv_tracks(seed=0, **kwargs):
    """A seeded :class:`ConvTracks` (kwargs: its parameters)."""
    torch.manual_seed(seed)
    return ConvTracks(**kwargs)


def tiny_enformer(**hparams):
    """enformer-pytorch's Enformer with ``hparams`` (random weights: load a state dict)."""
    from enformer_pytorch import Enformer

    return Enformer.from_hparams(**hparams)


def not_a_module():
    """A builder that forgets to return the model."""
    conv_tracks()
    return {"model": "oops"}


NOT_CALLABLE = 3
