"""User plugins: a Python file or module that registers tasks and forecasters with the decorators."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import sys
from pathlib import Path

from .errors import IntrobenchError
from .registry import RegistryError

ENTRY_POINT_GROUP = "introbench.plugins"


class PluginError(IntrobenchError):
    pass


def load_plugin(spec: str) -> None:
    """Import ``spec``: a path to a .py file, or a dotted module name."""
    import predictors  # noqa: F401  (built-ins first, so a plugin that re-registers one is caught)
    import tasks  # noqa: F401

    try:
        path = Path(spec)
        if is_file_plugin(spec):
            if not path.is_file():
                raise PluginError(f"plugin {spec}: no such file")
            name = module_name(path)
            if name in sys.modules:
                return
            source = path.read_text()
            module_spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(module_spec)
            module.__introbench_source__ = source  # what travels to Ray's workers, read once, here
            sys.modules[name] = module
            try:
                exec(compile(source, str(path), "exec"), module.__dict__)
            except BaseException:
                del sys.modules[name]
                raise
        else:
            importlib.import_module(spec)
    except PluginError:
        raise
    except RegistryError as exc:
        raise PluginError(f"plugin {spec}: {exc}") from None
    except Exception as exc:
        raise PluginError(f"plugin {spec} failed to import: {type(exc).__name__}: {exc}") from None


def module_name(path: Path) -> str:
    return f"introbench_plugin_{Path(path).stem}"


def is_file_plugin(spec: str) -> bool:
    return spec.endswith(".py") or Path(spec).is_file()


def plugin_source(spec: str) -> str:
    """A file plugin's source as it was when loaded (the file may be gone since), else as it is now."""
    module = sys.modules.get(module_name(Path(spec)))
    source = getattr(module, "__introbench_source__", None)
    if source is None:
        if not Path(spec).is_file():
            raise PluginError(f"plugin {spec}: no such file")
        source = Path(spec).read_text()
    return source


def load_entry_point_plugins() -> None:
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            ep.load()
        except RegistryError as exc:
            raise PluginError(f"plugin {ep.name} ({ep.value}): {exc}") from None
        except Exception as exc:
            raise PluginError(f"plugin {ep.name} ({ep.value}) failed to import: {type(exc).__name__}: {exc}") from None


def load_plugins(specs: list[str] | None = None) -> None:
    load_entry_point_plugins()
    for spec in specs or []:
        load_plugin(spec)
