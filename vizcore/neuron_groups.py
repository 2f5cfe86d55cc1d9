"""Neuron groups (Olah et al., "The Building Blocks of Interpretability", Distill 2018): a layer's
activations on a photo factorised into a few non-negative factors, each a mix of channels with a
map over the photo and its part of the class's score.

The factorisation is non-negative matrix factorisation by Lee & Seung's multiplicative updates
("Algorithms for Non-negative Matrix Factorization", NIPS 2001) on a :class:`vizcore.why.Why`'s
activations (h·w, C); a group's contribution is attributed with the Why's gradients, as a
channel's is.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .checks import whole_number
from .drawing import resized_map
from .why import Why

MAX_GROUPS = 16  # neuron groups at most
NMF_STEPS = 200  # multiplicative updates of the factorisation
NMF_EPSILON = 1e-9  # keeps the multiplicative updates away from 0 / 0


class Group(NamedTuple):
    """A neuron group: a non-negative factor of the layer's activations."""

    channels: np.ndarray  # float32 (C,): how much of each channel the group holds
    grid: np.ndarray  # float32 (h, w): where it is on the layer's grid
    contribution: float  # its part of the explained score
    share: float  # contribution / Σ|group contributions|


def groups(why: Why, count: int = 4, *, seed: int = 0, steps: int = NMF_STEPS) -> list[Group]:
    """Neuron groups (Olah et al., 2018): A (h·w, C) ≈ W (h·w, n) · H (n, C), both non-negative
    (Lee & Seung, 2001, multiplicative updates), largest contribution first.

    Group g contributes Σ_{p,c} W[p, g] H[g, c] ∂score/∂A[p, c] (as a channel does). Negative
    activations (a layer after no ReLU) are set to 0 first.

    Raises:
        RequestError: count out of 1…MAX_GROUPS or above the layer's positions or channels.
    """
    positions = why.activations.shape[0] * why.activations.shape[1]
    limit = min(MAX_GROUPS, positions, why.activations.shape[-1])
    count = whole_number("count (groups)", count, 1, limit)
    flat = np.maximum(why.activations.reshape(positions, -1), 0.0).astype(np.float64)
    where, what = nmf(flat, count, seed=seed, steps=steps)
    gradients = why.gradients.reshape(positions, -1).astype(np.float64)
    contributions = np.einsum("pg,gc,pc->g", where, what, gradients)
    total = float(np.sum(np.abs(contributions))) or 1.0
    found = [
        Group(
            what[g].astype(np.float32), where[:, g].reshape(why.activations.shape[:2]).astype(np.float32), c, c / total
        )
        for g, c in enumerate(contributions.tolist())
    ]
    return sorted(found, key=lambda group: -group.contribution)


def nmf(values: np.ndarray, count: int, *, seed: int = 0, steps: int = NMF_STEPS) -> tuple[np.ndarray, np.ndarray]:
    """Non-negative W (m, count), H (count, n) with W·H ≈ values (m, n), by Lee & Seung's
    multiplicative updates for the Frobenius norm (their Theorem 1)."""
    rng = np.random.default_rng(seed)
    scale = np.sqrt(max(float(values.mean()), NMF_EPSILON) / count)
    where = rng.uniform(0.5, 1.5, (values.shape[0], count)) * scale
    what = rng.uniform(0.5, 1.5, (count, values.shape[1])) * scale
    for _ in range(steps):
        what *= (where.T @ values) / (where.T @ where @ what + NMF_EPSILON)
        where *= (values @ what.T) / (where @ what @ what.T + NMF_EPSILON)
    norms = np.linalg.norm(what, axis=1, keepdims=True) + NMF_EPSILON  # unit channel vectors, maps carry the scale
    return where * norms.T, what / norms


def group_map(why: Why, group: Group) -> np.ndarray:
    """float32 (H, W) in [0, 1]: the group's map over the photo."""
    peak = float(group.grid.max())
    return resized_map(group.grid / peak if peak > 0 else group.grid, why.photo_size)
