"""The forecaster contract and registry.

A forecaster names the history fractions it needs (0.0 is step 0; the current step t is always given last)
and maps a batch of histories, one column per scalar weight, to new values. Nothing else: it never sees a
model, a task or a step count, so every forecaster is interchangeable in runs, suites and sweeps.
"""

from __future__ import annotations

import inspect
from typing import Callable

import torch

from benchmark.errors import ConfigError
from benchmark.registry import Registry


class Forecaster:
    fractions: tuple[float, ...] = ()
    jumps: bool = True  # False: the baseline, which never jumps
    summary: str = ""
    horizon: float | None = None  # the multiple of t it forecasts (None: no particular step)
    # what a report compares it as: "baseline" (never jumps), "control" (parameter-free, keeps claims honest),
    # "rule" (the paper's fixed fits and noise), "learned" (trained weights: the claims under test)
    role: str = "rule"
    trained_on: tuple[str, ...] = ()  # the tasks a learned forecaster was trained on (from its weights file)
    # True: the jump engine also passes ``context=forecaster.layer_context(snapshots, w_t, module class,
    # parameter name)``, computed once per layer, to each chunk's forecast (per-layer statistics, layer kind)
    layerwise: bool = False
    cpu_chunk: int = 1 << 16  # elements forecast at once on a CPU (large: a linear rule is memory-bound)

    def forecast(self, history: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """history: [len(fractions) + 1, n] (rows in the order of ``fractions``, then w_t) -> [n]."""
        raise NotImplementedError

    def params(self) -> dict:
        return {}


FORECASTERS: Registry[Callable[..., Forecaster]] = Registry("forecaster")


def register_forecaster(name: str):
    """Decorate a Forecaster subclass (or factory); its keyword arguments are its parameters."""
    return FORECASTERS.register(name)


def list_forecasters(pattern: str = "*") -> list[str]:
    return FORECASTERS.names(pattern)


def forecaster_role(name: str) -> str:
    """A registered forecaster's role (its class attribute: nothing is built, no weights are read)."""
    factory = FORECASTERS.get(name)
    return getattr(factory, "role", "rule")


def forecaster_defaults(name: str) -> dict:
    """The parameters a forecaster takes, with their defaults."""
    factory = FORECASTERS.get(name)
    sig = inspect.signature(factory.__init__ if inspect.isclass(factory) else factory)
    kinds = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return {p.name: (None if p.default is inspect.Parameter.empty else p.default)
            for p in sig.parameters.values() if p.name != "self" and p.kind in kinds}


def create_forecaster(name: str, **params) -> Forecaster:
    factory = FORECASTERS.get(name)
    allowed = forecaster_defaults(name)
    for key in params:
        if key not in allowed:
            options = ", ".join(allowed) or "none"
            raise ConfigError(f"forecaster_params.{key}", f"'{name}' takes no parameter '{key}'; allowed: {options}")
    return factory(**params)


class LinearRule(Forecaster):
    """A forecast that is a fixed linear combination of the history (fits through fixed abscissae)."""

    coefficients: torch.Tensor  # [len(fractions) + 1], float64

    def forecast(self, history, generator=None):
        c = self.coefficients.to(device=history.device, dtype=history.dtype)
        return c @ history


def check_ratio(ratio, name: str = "ratio") -> float:
    if not isinstance(ratio, (int, float)) or isinstance(ratio, bool) or not ratio > 1:
        raise ConfigError(name, f"must be a number > 1 (the forecast step as a multiple of t), got {ratio!r}")
    return float(ratio)
