"""Names of a package that load on first use (PEP 562): its `__getattr__` and `__dir__`.

A package lists where each of its names lives; importing the package then loads none of
those modules, and a name's module is imported the first time the name is read.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_names(
    namespace: dict[str, Any], where: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Return the `__getattr__` and `__dir__` of the package whose globals are `namespace`.

    `where` maps each name to the module that holds it, or to the module itself when the
    name is a submodule's (`"errors": "rota.errors"`). A name read is kept in `namespace`,
    so it is looked up once; any other name raises AttributeError, as for any module.
    """
    package = namespace["__name__"]

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        loaded = importlib.import_module(module)
        value = loaded if module == f"{package}.{name}" else getattr(loaded, name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted([*namespace, *namespace.get("__all__", ())])

    return __getattr__, __dir__
