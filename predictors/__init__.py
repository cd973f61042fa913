"""The forecaster registry. Importing this package registers every built-in forecaster."""

from .base import (FORECASTERS, Forecaster, LinearRule, create_forecaster, forecaster_defaults,
                   forecaster_role, list_forecasters, register_forecaster)
from . import deltanet, introspection, rules  # noqa: F401  (registration)

__all__ = ["FORECASTERS", "Forecaster", "LinearRule", "create_forecaster", "forecaster_defaults",
           "forecaster_role", "list_forecasters", "register_forecaster"]
