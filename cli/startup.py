"""How the command line, and the page (viz/app.py), import their libraries.

Three costs of a command's imports are not the libraries' own work, and :func:`libraries` removes them
(docs/performance.md, eighth and ninth sessions):

- **The cycle collector.** Importing pandas, mesa, geopandas and pyproj makes about 100,000 Python objects and
  almost no garbage, yet Python's cycle collector runs hundreds of times meanwhile, full passes over everything
  alive among them: about 0.1 s of a `run`.
- **scipy.spatial, which mesa imports for its grids.** mesa's grids import a KD-tree from ``scipy.spatial`` when mesa
  is imported (0.12-0.15 s with the parts of scipy it pulls in), though only a grid's nearest-cell query uses it and
  the commands build no mesa grid. Inside the block, ``scipy.spatial`` is a stand-in: a name imported from it is
  loaded from the real module the first time it is used, so code that does use it still works.
- **mesa's logger name.** mesa names a module's logger by walking the whole call stack with ``inspect.stack()``,
  which reads the source lines of every frame and searches all loaded modules for each frame's file: 0.05-0.08 s
  deep inside a command's imports, to learn the name of the module that called it. Inside the block,
  ``inspect.stack()`` leaves out the source lines (``code_context`` is None, as for code without source) and
  ``inspect.getmodule`` answers for a frame from the frame's own globals.
"""

from __future__ import annotations

import gc
import importlib
import inspect
import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

DEFERRED = ("scipy.spatial", "scipy.spatial.distance")
"""Modules that stand in for themselves until used, inside :func:`libraries` (mesa imports them for its grids)."""


@contextmanager
def libraries(deferred: tuple[str, ...] = DEFERRED) -> Iterator[None]:
    """Import inside this block with the cycle collector paused, ``deferred`` modules loaded only when used, and
    without the source lines of ``inspect.stack()``.

    If the block loaded modules, everything alive at its end is then moved out of the collector's reach
    (``gc.freeze``): module objects live as long as the process, and without this the first collection afterwards
    would pass over all of them (0.1 s again). Objects are still freed as usual when nothing refers to them; only
    reference cycles already unreachable at that moment stay. A block that loads nothing new (a module imported
    before) freezes nothing. The collector resumes as it was; ``inspect`` is restored, and the stand-ins leave
    ``sys.modules``, so a later ``import`` of a deferred module loads the real one.

    Parameters
    ----------
    deferred : module names to defer (a module already loaded is not deferred).

    Example
    -------
    >>> with libraries():
    ...     import json
    >>> gc.isenabled()
    True
    """
    was_enabled = gc.isenabled()
    loaded = len(sys.modules)
    gc.disable()
    deferral = Deferral(deferred)
    stack, getmodule = inspect.stack, inspect.getmodule
    inspect.stack, inspect.getmodule = _stack_without_source, _module_of_frame
    try:
        yield
    finally:
        inspect.stack, inspect.getmodule = stack, getmodule
        deferral.end()
        if len(sys.modules) > loaded:
            gc.freeze()
        if was_enabled:
            gc.enable()


def _stack_without_source(context: int = 1) -> list[inspect.FrameInfo]:
    """``inspect.stack`` without reading source files: every entry's ``code_context`` and ``index`` are None."""
    return inspect.getouterframes(sys._getframe(1), 0)


_getmodule = inspect.getmodule


def _module_of_frame(obj: Any, _filename: str | None = None) -> types.ModuleType | None:
    """``inspect.getmodule``; for a frame, the loaded module whose globals the frame runs in, without a search."""
    if inspect.isframe(obj):
        module = sys.modules.get(obj.f_globals.get("__name__"))
        if module is not None and getattr(module, "__dict__", None) is obj.f_globals:
            return module
    return _getmodule(obj, _filename)


class Deferral:
    """Stand-ins for modules in ``sys.modules`` until :meth:`end`.

    ``from <module> import name`` gives a :class:`Later` for ``name``. Using a Later before :meth:`end` ends the
    deferral first, so the real module is imported.

    Example
    -------
    >>> d = Deferral(("fractions_not_loaded_example",))
    >>> from fractions_not_loaded_example import Fraction
    >>> d.end()
    >>> "fractions_not_loaded_example" in sys.modules
    False
    """

    def __init__(self, names: tuple[str, ...]):
        self.stand_ins: dict[str, _StandIn] = {}
        for name in names:
            if name not in sys.modules:
                self.stand_ins[name] = sys.modules[name] = _StandIn(name, self)
        for name, module in self.stand_ins.items():  # a stand-in with stand-ins below it is a package
            if any(other.startswith(name + ".") for other in self.stand_ins):
                module.__path__ = []

    def end(self) -> None:
        """Remove the stand-ins that are still in ``sys.modules``."""
        for name, module in self.stand_ins.items():
            if sys.modules.get(name) is module:
                del sys.modules[name]
        self.stand_ins = {}


class _StandIn(types.ModuleType):
    def __init__(self, name: str, deferral: Deferral):
        super().__init__(name, "stands in for the module until it is used (cli.startup)")
        self._deferral = deferral

    def __getattr__(self, attr: str) -> Later:
        if attr.startswith("__"):  # what the import system and inspect ask a module: a stand-in has none of it
            raise AttributeError(attr)
        return Later(self.__name__, attr, self._deferral)


class Later:
    """A name of a deferred module; calling it, reading its attributes or ``isinstance`` against it loads the module
    and uses the real object."""

    def __init__(self, module: str, name: str, deferral: Deferral):
        self._where = (module, name, deferral)

    def real(self) -> Any:
        """The object this stands for (the module is imported now if it is not yet)."""
        module, name, deferral = self._where
        deferral.end()
        return getattr(importlib.import_module(module), name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.real()(*args, **kwargs)

    def __getattr__(self, attr: str) -> Any:
        if attr == "_where":  # not set yet (while unpickling or copying): no recursion
            raise AttributeError(attr)
        return getattr(self.real(), attr)

    def __instancecheck__(self, obj: Any) -> bool:
        return isinstance(obj, self.real())

    def __mro_entries__(self, bases: tuple) -> tuple:
        return (self.real(),)
