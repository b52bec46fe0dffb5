"""Load a script of the repository (a benchmark under bench/, an example) as a module, by
its path: scripts run from their own folder and are not importable by package name."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]


def load_script(relative_path: str, name: str) -> ModuleType:
    """The module of ``REPO/relative_path``, executed afresh under ``name``."""
    spec = importlib.util.spec_from_file_location(name, REPO / relative_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
