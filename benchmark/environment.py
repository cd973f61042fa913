"""Environment variables set for a span of work and then put back: no hidden state between runs."""

from __future__ import annotations

import os
from contextlib import contextmanager


@contextmanager
def scoped_env(values: dict[str, str]):
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield values
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
