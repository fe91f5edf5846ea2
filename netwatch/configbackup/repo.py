"""The configuration history and frozen baselines in the store, handed to the ssh probe in its ProbeContext.

The ssh probe gets a `Repository` in its ProbeContext: the daemon hands a writable one on its store,
`netwatch probe` a read-only one on the config's store (it compares with the baseline but
records nothing). With none the probe still fetches and masks but cannot tell versions or drift apart.
The SQL lives in netwatch/store/configs.py.
"""

from __future__ import annotations

from netwatch.store.configs import Freeze, Observation, PhaseAt, PhaseLike, Repository, Version, digest

__all__ = ["Freeze", "Observation", "PhaseAt", "PhaseLike", "Repository", "Version", "digest"]
