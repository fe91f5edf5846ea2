"""The configuration history and frozen baselines in the store, reachable from the ssh probe.

Probes get no store handle, so the process that owns the store installs one `Repository` here:
`Monitor.__init__` installs a writable one on the daemon's store, `netwatch probe` a read-only one
on the config's store (it compares with the baseline but records nothing). With none installed the
probe still fetches and masks but cannot tell versions or drift apart. The SQL lives in
netwatch/store/configs.py.
"""

from __future__ import annotations

from netwatch.store.configs import Freeze, Observation, PhaseAt, PhaseLike, Repository, Version, digest

__all__ = ["Freeze", "Observation", "PhaseAt", "PhaseLike", "Repository", "Version", "digest", "install",
           "current"]

_current: Repository | None = None


def install(repo: Repository | None) -> None:
    """Make `repo` the one the ssh probe uses in this process (None removes it)."""
    global _current
    _current = repo


def current() -> Repository | None:
    return _current
