"""Guards that keep the layers as docs/architecture.md draws them: every module imports alone, no package cycles."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.arch.imports import ROOT, cycles, graph, modules, unit_graph

# Distributions of the test and bench extras, by the top-level module names they install: a module of
# the package that needs one of them would fail on a plain `pip install .`.
EXTRA_MODULES = {
    "pytest": "pytest", "pytest-asyncio": "pytest_asyncio", "pytest-timeout": "pytest_timeout",
    "hypothesis": "hypothesis", "aiosmtpd": "aiosmtpd", "selenium": "selenium", "jsonschema": "jsonschema",
    "icmplib": "icmplib", "snmpsim": "snmpsim", "snmpsim-data": "snmpsim_data",
    "py-spy": "py_spy",   # a sampling profiler binary; nothing to import
}

COLD_IMPORT = r"""
import importlib, importlib.abc, json, sys

class Refuse(importlib.abc.MetaPathFinder):
    def __init__(self, names):
        self.names = set(names)
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.names:
            raise ImportError(f"{name} is not installed by a plain `pip install .`")
        return None

sys.meta_path.insert(0, Refuse(sys.argv[1].split(",")))
failures = {}
for name in sys.argv[2].split(","):
    for loaded in [m for m in sys.modules if m == "netwatch" or m.startswith("netwatch.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except BaseException as exc:  # SystemExit included: a module must not act on import
        failures[name] = f"{type(exc).__name__}: {exc}"
print(json.dumps(failures))
"""


def extras_of_pyproject() -> set[str]:
    data = tomllib.loads((ROOT.parent / "pyproject.toml").read_text())
    names = set()
    for group in data["project"].get("optional-dependencies", {}).values():
        for requirement in group:
            names.add(requirement.split(";")[0].split("[")[0].split(">")[0].split("<")[0].split("=")[0].strip())
    return names


def test_every_module_imports_alone_without_the_test_extras() -> None:
    extras = extras_of_pyproject()
    unknown = extras - set(EXTRA_MODULES)
    assert not unknown, f"map these extras to their module names in EXTRA_MODULES: {sorted(unknown)}"
    blocked = sorted({EXTRA_MODULES[e] for e in extras} | {"tests"})
    # Every module in a fresh interpreter, with netwatch's own modules forgotten before each one:
    # an import cycle shows as an ImportError when its module is the first one imported.
    names = sorted(m for m in modules() if m != "netwatch.__main__")
    out = subprocess.run([sys.executable, "-c", COLD_IMPORT, ",".join(blocked), ",".join(names)],
                         capture_output=True, text=True, timeout=300, cwd=ROOT.parent)
    assert out.returncode == 0, out.stderr[-3000:]
    failures = json.loads(out.stdout.strip().splitlines()[-1])
    assert failures == {}


def test_the_module_list_is_the_whole_package() -> None:
    # The cold import above would pass vacuously on an empty list.
    names = modules()
    assert len(names) > 80 and "netwatch.probes.icmp" in names and "netwatch.net.http" in names


def test_no_import_cycle_between_packages() -> None:
    assert cycles(unit_graph()) == []


def test_protocol_clients_do_not_import_what_sits_above_them() -> None:
    above = ("netwatch.probes", "netwatch.config", "netwatch.store", "netwatch.alerting", "netwatch.notify",
             "netwatch.web", "netwatch.report", "netwatch.app", "netwatch.lab", "netwatch.commands")
    wrong = {m: sorted(d for d in deps if d.startswith(above))
             for m, deps in graph().items() if m.startswith("netwatch.net")}
    assert {m: d for m, d in wrong.items() if d} == {}


def test_probes_hold_probe_kinds_only() -> None:
    probes = Path(ROOT / "probes")
    kinds = {p.stem for p in probes.glob("*.py")} - {"__init__", "contract"}
    from netwatch.probes import PROBES

    assert kinds == set(PROBES), "a module in netwatch/probes/ that is not a probe kind belongs in netwatch/net/"
