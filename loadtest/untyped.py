"""Third-party modules that ship no type information (psutil, plotly), imported as `Any`.

Why: `mypy --strict` must stay clean whether or not the project's configuration lists stubs or
overrides for these; importing them here, once, keeps every other module fully typed.
"""

from __future__ import annotations

import importlib
from typing import Any


def load(name: str) -> Any:
    """The module `name`, typed as Any."""
    return importlib.import_module(name)
