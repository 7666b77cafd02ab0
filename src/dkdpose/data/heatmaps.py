"""The heatmap codec: Gaussian targets and their decoding, one object for training, evaluation and prediction.

The paper (section 3.1) regresses one confidence map per joint; targets are 2-D Gaussians as in
SimpleBaseline.

Input pixel <-> heatmap cell (both 0-based with integer coordinates at pixel/cell *centres*):
    stride s = input_size / heatmap_size (per axis, e.g. 256 / 32 = 8)
    cell  = (pixel + 0.5) / s - 0.5          pixel = (cell + 0.5) * s - 0.5
so heatmap cell c covers exactly input pixels [c*s - 0.5, (c+1)*s - 0.5] and the heatmap's extent is the
crop's extent. (SimpleBaseline uses cell = pixel / s, which is off by (s - 1) / 2 px and is why its flip test
shifts the flipped heatmap by one cell; with the centre-aligned map above the mirror x -> W - 1 - x of the
input is exactly the mirror c -> w - 1 - c of the heatmap, so `flip_back` needs and applies no shift.)

Encode: the Gaussian is centred at the joint's sub-cell position (not rounded to a cell), peak value 1,
truncated to zero beyond 3 sigma (sigma in heatmap cells). Decode: argmax, then a quarter-cell step toward the
higher neighbour on each axis (SimpleBaseline); skipped on an axis whose argmax is a border cell. For a clean
target the decode error is therefore at most 0.25 cell = 0.25 * s input pixels per axis, and at most 0.5 cell
when the joint lies within half a cell of the heatmap border.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

TRUNCATE = 3.0  # Gaussian support radius in sigmas (SimpleBaseline)


class HeatmapCodec:
    """Encode joints in input pixels to Gaussian heatmaps and decode heatmaps back to input pixels.

    `input_size` (W, H) of the network input; `heatmap_size` (w, h) of its output; `sigma` in heatmap cells.
    """

    def __init__(
        self, input_size: tuple[int, int], heatmap_size: tuple[int, int], sigma: float = 2.0
    ) -> None:
        if sigma <= 0:
            raise ValueError(f"sigma must be positive, got {sigma}")
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.heatmap_size = (int(heatmap_size[0]), int(heatmap_size[1]))
        self.sigma = float(sigma)
        self.stride = np.array(
            [self.input_size[0] / self.heatmap_size[0], self.input_size[1] / self.heatmap_size[1]]
        )

    def __repr__(self) -> str:
        size = f"input_size={self.input_size}, heatmap_size={self.heatmap_size}"
        return f"HeatmapCodec({size}, sigma={self.sigma})"

    # --- coordinate maps ------------------------------------------------------------------------------------

    def input_to_heatmap(self, points: np.ndarray) -> np.ndarray:
        """Points (..., 2) in input pixels -> heatmap cells (..., 2), float64."""
        return (np.asarray(points, dtype=np.float64) + 0.5) / self.stride - 0.5

    def heatmap_to_input(self, cells: np.ndarray) -> np.ndarray:
        """Points (..., 2) in heatmap cells -> input pixels (..., 2), float64."""
        return (np.asarray(cells, dtype=np.float64) + 0.5) * self.stride - 0.5

    @property
    def heatmap_to_input_affine(self) -> np.ndarray:
        """(2, 3) affine from heatmap cells to input pixels (compose it with a crop's inverse affine)."""
        sx, sy = self.stride
        return np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5]])

    # --- encode ---------------------------------------------------------------------------------------------

    def encode(self, joints: np.ndarray, visibility: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Gaussian targets for joints (..., K, 2) in input pixels with visibility (..., K).

        Returns heatmaps (..., K, h, w) float32 and target_weight (..., K) float32: 1 for a labelled joint
        (visibility > 0, finite coordinates) inside the heatmap's extent, else 0 with an all-zero heatmap.
        """
        w, h = self.heatmap_size
        mu = self.input_to_heatmap(joints)  # (..., K, 2) cells
        finite = np.isfinite(mu).all(axis=-1)
        inside = finite & (mu[..., 0] >= -0.5) & (mu[..., 0] <= w - 0.5)
        inside &= (mu[..., 1] >= -0.5) & (mu[..., 1] <= h - 0.5)
        weight = (np.asarray(visibility) > 0) & inside
        mu = np.where(weight[..., None], mu, 0.0)  # keep NaN out of the arithmetic
        gx = self._gauss_1d(np.arange(w), mu[..., 0])  # (..., K, w)
        gy = self._gauss_1d(np.arange(h), mu[..., 1])  # (..., K, h)
        heat = gy[..., :, None] * gx[..., None, :]  # separable Gaussian: (..., K, h, w)
        heat *= weight[..., None, None]
        return heat.astype(np.float32), weight.astype(np.float32)

    def _gauss_1d(self, grid: np.ndarray, mu: np.ndarray) -> np.ndarray:
        """exp(-(grid - mu)^2 / 2 sigma^2), zero beyond TRUNCATE sigma: (..., n) for mu (...)."""
        d = grid - mu[..., None]
        g = np.exp(-(d * d) / (2.0 * self.sigma**2))
        return np.where(np.abs(d) <= TRUNCATE * self.sigma, g, 0.0)

    # --- decode ---------------------------------------------------------------------------------------------

    def decode(self, heatmaps: Tensor) -> tuple[Tensor, Tensor]:
        """Heatmaps (..., K, h, w) -> coords (..., K, 2) float32 in input pixels, scores (..., K) = peaks.

        Batched: argmax over all maps at once, then the quarter-cell refinement with gathered neighbours.
        """
        h, w = heatmaps.shape[-2:]
        flat = heatmaps.detach().float().reshape(-1, h * w)  # (N, h*w)
        scores, idx = flat.max(dim=1)
        px, py = idx % w, torch.div(idx, w, rounding_mode="floor")
        dx = self._quarter_step(flat, py * w, px, w)
        dy = self._quarter_step(flat, px, py, h, step=w)
        cells = torch.stack([px + dx, py + dy], dim=-1).double()  # (N, 2)
        stride = torch.as_tensor(self.stride, dtype=torch.float64, device=cells.device)
        coords = (cells + 0.5) * stride - 0.5
        lead = heatmaps.shape[:-2]
        return coords.float().reshape(*lead, 2), scores.reshape(lead)

    @staticmethod
    def _quarter_step(flat: Tensor, base: Tensor, pos: Tensor, n: int, step: int = 1) -> Tensor:
        """+-0.25 toward the higher of the two neighbours of `pos` along one axis (0 at a border or on a tie).

        `flat` (N, h*w); the neighbours of cell `pos` sit at flat index base + (pos +- 1) * step.
        """
        interior = (pos > 0) & (pos < n - 1)
        lo = torch.clamp(pos - 1, 0, n - 1)
        hi = torch.clamp(pos + 1, 0, n - 1)
        v_lo = flat.gather(1, (base + lo * step)[:, None])[:, 0]
        v_hi = flat.gather(1, (base + hi * step)[:, None])[:, 0]
        return 0.25 * torch.sign(v_hi - v_lo) * interior

    # --- flip test ------------------------------------------------------------------------------------------

    @staticmethod
    def flip_back(heatmaps: Tensor, flip_index: Sequence[int] | np.ndarray) -> Tensor:
        """Heatmaps (..., K, h, w) of a horizontally flipped input -> the same in the unflipped frame.

        Mirrors the columns and swaps left/right channels. No one-cell shift: with the centre-aligned cell map
        of this module the input mirror x -> W - 1 - x is exactly the column mirror c -> w - 1 - c (module
        docstring).
        """
        idx = torch.as_tensor(np.asarray(flip_index), dtype=torch.long, device=heatmaps.device)
        return heatmaps.flip(-1).index_select(-3, idx)
