"""The layering, read statically: every import of every first-party module, including imports inside
functions, under ``TYPE_CHECKING`` and the strings handed to ``importlib.import_module``.

The rules are the ones docs/architecture.md states; a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path

from tests.conftest import ROOT

PACKAGES = ("station", "device_adapters", "upload", "config", "health", "localapi", "bodydock", "ui", "kiosk_lab",
            "vault", "image_build", "bench")
# Trees a build makes below a package (a whole Debian root for the image): not the project's modules.
BUILD_TREES = {("image_build", "out"), ("image_build", "cache")}

# What each package may import besides itself (prefixes of dotted module names). Anything else is a violation.
MAY_IMPORT: dict[str, tuple[str, ...]] = {
    # The core: its own sub-packages and the adapter API, nothing at its edges.
    "station": ("device_adapters.api",),
    # Adapters: the API, and of the core only the guarded-call helper the conformance kit drives adapters with
    # (named in docs/adapters.md).
    "device_adapters": ("station.adapters.calls",),
    "upload": ("station", "config"),
    "config": ("station",),
    "health": ("station", "config", "device_adapters.api"),
    "localapi": ("health", "station", "config", "device_adapters.api"),
    # The kiosk is a client of the local API over HTTP; it shares no code with the daemon.
    "ui": (),
    "kiosk_lab": ("ui", "bodydock", "station", "device_adapters", "config"),
    # The vault host runs none of the dock: only the shared crypto, time format, folder layout and config parsing.
    "vault": ("station.crypto", "station.timeutil", "station.crashpoints", "upload.layout", "config"),
    "bodydock": PACKAGES,
    # The image build reads the adapters' descriptors (for the udev rule) and the package metadata.
    "image_build": ("station", "device_adapters", "config"),
    "bench": PACKAGES,
}

# The only modules that import by a computed name, and why: each loads a plugin named by data, never a package above.
DYNAMIC_LOADERS = {
    "station.adapters.registry": "an adapter's factory, named by its descriptor (entry points)",
    "device_adapters.conformance.contract": "the simulator and factory named by the adapter under test",
    "kiosk_lab.driver": "the touch scenario named on its command line",
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for top in PACKAGES:
        for path in sorted((ROOT / top).rglob("*.py")):
            if tuple(path.relative_to(ROOT).parts[:2]) in BUILD_TREES:
                continue
            found[_module_name(path)] = path
    return found


def _imported_names(path: Path, name: str | None = None) -> Iterator[tuple[int, str]]:
    """Every dotted name the module imports, with its line; ``from a import b`` yields ``a`` and ``a.b``."""
    name = name or _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                origin = ".".join([*base, *([node.module] if node.module else [])])
            else:
                origin = node.module or ""
            yield node.lineno, origin
            for alias in node.names:
                yield node.lineno, f"{origin}.{alias.name}"
        elif isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if called in ("import_module", "__import__") and node.args:
                arg = node.args[0]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    yield node.lineno, arg.value
                else:
                    # A computed module name would hide a dependency from this test.
                    yield node.lineno, "<computed>"


def _resolve(name: str) -> str | None:
    """The first-party module a dotted name refers to (a module, or the package whose attribute it is)."""
    known = modules()
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


@cache
def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for name, path in modules().items():
        targets = {_resolve(imported) for _, imported in _imported_names(path)}
        # Importing a name from one's own package's __init__ is not a dependency on oneself.
        edges[name] = {t for t in targets if t is not None and t != name}
    return edges


def _allowed(importer: str, imported: str) -> bool:
    own = importer.split(".")[0]
    if imported.split(".")[0] == own:
        return True
    return any(imported == p or imported.startswith(p + ".") for p in MAY_IMPORT[own])


def test_every_first_party_import_follows_the_layering() -> None:
    bad = []
    for name, path in modules().items():
        for line, imported in _imported_names(path):
            if imported == "<computed>":
                if name in DYNAMIC_LOADERS:
                    continue
                bad.append(f"{path.relative_to(ROOT)}:{line}: import_module with a computed name")
                continue
            if imported.split(".")[0] in PACKAGES and not _allowed(name, imported):
                bad.append(f"{path.relative_to(ROOT)}:{line}: {name} imports {imported}")
    assert not bad, "layering violations:\n" + "\n".join(sorted(set(bad)))


# The vault portal (vault/portal/): above the vault's own modules, below nothing but its command line.
PORTAL_MAY_IMPORT = ("vault", "station.crypto", "station.timeutil", "station.crashpoints")
PORTAL_IMPORTED_BY = ("vault.cli",)


def test_the_vault_portal_sits_on_the_vault_and_only_its_cli_imports_it() -> None:
    bad = []
    for name, path in modules().items():
        in_portal = name == "vault.portal" or name.startswith("vault.portal.")
        for line, imported in _imported_names(path):
            target = _resolve(imported) if imported.split(".")[0] in PACKAGES else None
            if target is None:
                continue
            to_portal = target == "vault.portal" or target.startswith("vault.portal.")
            if in_portal and not to_portal and not any(target == p or target.startswith(p + ".")
                                                       for p in PORTAL_MAY_IMPORT):
                bad.append(f"{path.relative_to(ROOT)}:{line}: the portal imports {imported}")
            if to_portal and not in_portal and name not in PORTAL_IMPORTED_BY and name.split(".")[0] != "bench":
                bad.append(f"{path.relative_to(ROOT)}:{line}: {name} imports the portal ({imported})")
    assert not bad, "portal layering violations:\n" + "\n".join(sorted(set(bad)))


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_two_modules_import_each_other_directly_or_in_a_cycle() -> None:
    cycles = _cycles(graph())
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_the_checker_sees_lazy_cycles_and_violations(tmp_path: Path) -> None:
    """The checker itself: a cycle through a function-level import and an importlib string is found."""
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(edges) == [["a", "b", "c"]]
    src = tmp_path / "m.py"
    src.write_text("import importlib\n\ndef f():\n    from upload import x\n    from . import sibling\n"
                   "    importlib.import_module('ui.app')\n")
    names = {n for _, n in _imported_names(src, "station.m")}
    assert {"upload", "upload.x", "ui.app", "station.sibling"} <= names
    assert not _allowed("station.m", "upload.x") and not _allowed("station.m", "ui.app")
    assert _allowed("station.core.engine", "device_adapters.api")
    assert not _allowed("station.x", "device_adapters.simulated")


def test_station_loads_no_edge_libraries() -> None:
    """At run time too: importing every core module pulls in no UI toolkit, SSH library or edge package."""
    code = (
        "import sys, pkgutil, importlib, station\n"
        "for m in pkgutil.walk_packages(station.__path__, 'station.'):\n"
        "    importlib.import_module(m.name)\n"
        "edges = ('kivy', 'paramiko', 'starlette', 'upload', 'ui', 'config', 'health', 'localapi', 'bodydock',"
        " 'vault')\n"
        "print(','.join(m for m in sys.modules if m.split('.')[0] in edges))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert r.stdout.strip() == ""
