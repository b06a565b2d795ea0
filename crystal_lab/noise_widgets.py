"""Watch diffusion happen to a crystal (kept for old imports): the code lives in
:mod:`crystal_lab.view.noise`."""
from __future__ import annotations

from .view.noise import (
                         forward_figure,
                         forward_frames,
                         forward_noise_widget,
                         get_noise,
                         noise_curves,
                         noise_curves_figure,
                         reverse_figure,
                         reverse_widget,
                         side_by_side,
                         trajectory_metrics,
)

__all__ = ["get_noise", "forward_frames", "noise_curves", "noise_curves_figure", "forward_figure",
           "forward_noise_widget", "trajectory_metrics", "reverse_figure", "reverse_widget",
           "side_by_side"]
