"""cvxpy imported without ``scipy.stats``: about half of cvxpy's import time.

cvxpy's package import runs every atom's module, and one of them
(``cvxpy.atoms.quantum_rel_entr``) takes ``entropy`` from ``scipy.stats``, which
imports scipy's distributions, optimizers and interpolators — 0.4 to 1 s on the
project's machines, for an atom the project never uses. ``install()`` (run by
``rebalancer/__init__``, so before any module of the package imports cvxpy) puts
a finder first on ``sys.meta_path`` that waits for the import of ``cvxpy`` itself:
while cvxpy's package runs, and only then, ``scipy.stats`` is a stand-in whose
``entropy`` imports the real one when called (the atom gets the real function's
result); any other name asked of the stand-in imports the real ``scipy.stats``
and hands that name over. Once cvxpy is imported the stand-in is gone:
``import scipy.stats`` anywhere later is the real module. Nothing changes when
cvxpy or ``scipy.stats`` was imported before the package, or when the finder is
not installed; the solvers, their options and their answers are cvxpy's own. A
cvxpy whose package imports more of ``scipy.stats`` than names (a submodule) is
imported again with the real module: slower, never broken.
"""

from __future__ import annotations

import importlib
import sys
import types

_STATS = "scipy.stats"


def _real_stats() -> types.ModuleType:
    """The real ``scipy.stats``, imported now if need be (the stand-in set aside)."""
    if isinstance(sys.modules.get(_STATS), _StandIn):
        del sys.modules[_STATS]
    return importlib.import_module(_STATS)


def _entropy(*args, **kwargs):
    """``scipy.stats.entropy``, imported on the first call."""
    return _real_stats().entropy(*args, **kwargs)


class _StandIn(types.ModuleType):
    """``scipy.stats`` while cvxpy's package runs: ``entropy`` without the import."""

    def __init__(self) -> None:
        super().__init__(_STATS)
        self.entropy = _entropy

    def __getattr__(self, name: str):
        if name.startswith("__"):  # the import system asks for __path__: not a package
            raise AttributeError(name)
        return getattr(_real_stats(), name)


class _Loader:
    """cvxpy's own loader, run with the stand-in in place (a loader by its two
    methods: ``importlib.abc`` costs ``--help`` some milliseconds to import)."""

    def __init__(self, real) -> None:
        self.real = real

    def create_module(self, spec):
        return self.real.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        # cvxpy sees its own loader, as it would without this finder
        module.__loader__ = module.__spec__.loader = self.real
        standing_in = _STATS not in sys.modules
        if standing_in:
            sys.modules[_STATS] = _StandIn()
        try:
            try:
                self.real.exec_module(module)
            except ImportError:
                if not standing_in:
                    raise
                # a cvxpy that asks more of scipy.stats than the stand-in gives (one of
                # its submodules): forget what its package imported, and import it
                # again with the real scipy.stats, as it would be without this finder
                for name in [n for n in sys.modules if n.startswith("cvxpy.")]:
                    del sys.modules[name]
                _real_stats()
                self.real.exec_module(module)
        finally:
            if standing_in and isinstance(sys.modules.get(_STATS), _StandIn):
                del sys.modules[_STATS]


class _Finder:
    """Finds ``cvxpy`` as the other finders do and wraps its loader (once)."""

    def find_spec(self, fullname, path, target=None):
        if fullname != "cvxpy":
            return None
        import importlib.util

        uninstall()
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return None
        spec.loader = _Loader(spec.loader)
        return spec


_FINDER = _Finder()


def install() -> None:
    """Put the finder first on ``sys.meta_path`` unless cvxpy is already imported."""
    if "cvxpy" not in sys.modules and _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)


def uninstall() -> None:
    if _FINDER in sys.meta_path:
        sys.meta_path.remove(_FINDER)
