"""Parameter-free forecasters: the baseline, noise, least-squares fits and the extrapolation control."""

from __future__ import annotations

import torch

from benchmark.errors import ConfigError

from .base import Forecaster, LinearRule, check_ratio, register_forecaster


@register_forecaster("none")
class NoJump(Forecaster):
    """Baseline: never jumps."""

    jumps = False
    role = "baseline"
    summary = "baseline: never jumps"

    def forecast(self, history, generator=None):
        return history[-1]


@register_forecaster("noise")
class Noise(Forecaster):
    """w_t + N(0, std^2): does a random kick alone help? (paper 4.5.1)"""

    summary = "control: w_t plus zero-mean gaussian noise (paper 4.5.1)"

    def __init__(self, std: float = 1e-3):
        if not isinstance(std, (int, float)) or std < 0:
            raise ConfigError("std", f"must be a number >= 0, got {std!r}")
        self.std = float(std)

    def forecast(self, history, generator=None):
        current = history[-1]
        if self.std == 0:
            return current.clone()
        noise = torch.randn(current.shape, generator=generator, device=current.device, dtype=current.dtype)
        return current + self.std * noise

    def params(self):
        return {"std": self.std}


def _least_squares_rule(fractions: tuple[float, ...], degree: int, ratio: float) -> torch.Tensor:
    """Coefficients c with c @ history == the degree-d least-squares fit through (x_i, w_i) evaluated at ratio."""
    x = torch.tensor(fractions + (1.0,), dtype=torch.float64)
    design = torch.stack([x**p for p in range(degree + 1)], dim=1)  # [points, degree + 1]
    at = torch.tensor([ratio**p for p in range(degree + 1)], dtype=torch.float64)
    return at @ torch.linalg.pinv(design)


class LeastSquaresFit(LinearRule):
    """Per-weight least-squares polynomial through (0, 0.4t, 0.7t, t), evaluated at ratio x t."""

    fractions = (0.0, 0.4, 0.7)
    degree = 1

    def __init__(self, ratio: float):
        self.ratio = self.horizon = check_ratio(ratio)
        self.coefficients = _least_squares_rule(self.fractions, self.degree, self.ratio)

    def params(self):
        return {"ratio": self.ratio}


@register_forecaster("quadratic")
class QuadraticFit(LeastSquaresFit):
    summary = "paper 4.4.1: least-squares quadratic through the 4 points, at ratio x t"
    degree = 2

    def __init__(self, ratio: float = 1.25):
        super().__init__(ratio)


@register_forecaster("linear_fit")
class LinearFit(LeastSquaresFit):
    summary = "paper 4.4.2: least-squares line through the 4 points, at ratio x t"
    degree = 1

    def __init__(self, ratio: float = 1.1):
        super().__init__(ratio)


@register_forecaster("extrapolate")
class Extrapolate(LinearRule):
    """Control: the line through (f t, w_ft) and (t, w_t) at r t, i.e. w_t + (r - 1)/(1 - f) (w_t - w_ft)."""

    role = "control"
    summary = "control, no parameters learned: continue each weight's recent straight line to ratio x t"

    def __init__(self, ratio: float = 1.3, base: float = 0.7):
        self.ratio = self.horizon = check_ratio(ratio)
        if not isinstance(base, (int, float)) or isinstance(base, bool) or not 0 < base < 1:
            raise ConfigError("base", f"must be a history fraction in (0, 1), got {base!r}")
        self.base = float(base)
        self.fractions = (self.base,)
        c = (self.ratio - 1) / (1 - self.base)
        self.coefficients = torch.tensor([-c, 1 + c], dtype=torch.float64)

    def params(self):
        return {"ratio": self.ratio, "base": self.base}
