"""A name -> factory registry with a decorator, in the manner of timm's register_model."""

from __future__ import annotations

import fnmatch
import inspect
from typing import Callable, Generic, TypeVar

from .errors import IntrobenchError

F = TypeVar("F", bound=Callable)


class RegistryError(IntrobenchError):
    pass


class Registry(Generic[F]):
    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, F] = {}
        self._origin: dict[str, str] = {}

    def register(self, name: str | None = None) -> Callable[[F], F]:
        def decorator(fn: F) -> F:
            key = name or fn.__name__
            origin = _origin_of(fn)
            if key in self._entries:
                raise RegistryError(
                    f"{self.kind} '{key}' is registered twice: first by {self._origin[key]}, again by {origin}"
                )
            self._entries[key] = fn
            self._origin[key] = origin
            return fn

        return decorator

    def unregister(self, name: str) -> None:
        self._entries.pop(name, None)
        self._origin.pop(name, None)

    def names(self, pattern: str = "*") -> list[str]:
        return sorted(n for n in self._entries if fnmatch.fnmatch(n, pattern))

    def get(self, name: str) -> F:
        try:
            return self._entries[name]
        except KeyError:
            raise RegistryError(
                f"unknown {self.kind} '{name}'; valid names: {', '.join(self.names())}"
            ) from None

    def __contains__(self, name: str) -> bool:
        return name in self._entries


def _origin_of(fn: Callable) -> str:
    try:
        return f"{fn.__module__}.{fn.__qualname__} ({inspect.getsourcefile(fn)})"
    except TypeError:
        return f"{fn.__module__}.{getattr(fn, '__qualname__', fn)}"
