"""introbench: a benchmark suite for weight forecasting."""

__version__ = "0.1.0"
