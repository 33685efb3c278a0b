"""Print the package's layout figures: long modules, import circles, public names, what imports Airflow.

``python scripts/layout_report.py`` (no Airflow needed: it reads the source with ``ast``). The figures
are the ones the layout rules of ``ARCHITECTURE.md`` speak of, so a before/after of a refactoring is two
runs of this script.

- modules over 250 lines in the core (everything but the Airflow glue, the emulator and the tests) and
  over 400 lines elsewhere;
- import circles between the package's modules, counting every import (module level, inside functions
  and under ``TYPE_CHECKING``) and again counting only the imports that run when the module is imported;
- public names: module-level names without a leading ``_`` in a module without a leading ``_``, and the
  public methods of public classes;
- the modules that import Airflow when imported (directly or through the package's other modules).
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterable
from pathlib import Path

PACKAGE = "airflow_provider_trafficstars"
# exceptions: the Airflow face of client.errors (it roots them under AirflowException), so glue.
GLUE = ("hooks", "operators", "sensors", "triggers", "transfers", "testing", "exceptions")


def modules(root: Path) -> dict[str, Path]:
    """Return ``{dotted name: path}`` of every module of the package under ``root``."""
    out = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports(module: str, path: Path, known: Iterable[str]) -> tuple[set[str], set[str]]:
    """Return ``(eager, every)`` imported names: eager ones run at import time, every adds lazy ones."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_package = path.name == "__init__.py"
    eager: set[str] = set()
    every: set[str] = set()
    known = set(known)

    def targets(node: ast.Import | ast.ImportFrom) -> set[str]:
        names: set[str] = set()
        if isinstance(node, ast.Import):
            names = {alias.name for alias in node.names}
        else:
            base = _resolve(module, is_package, node)
            # ``from package import module`` imports that module (the package too, but that is no circle).
            names = {f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names}
        return names

    def walk(nodes: list[ast.stmt], lazy: bool) -> None:
        for node in nodes:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                found = targets(node)
                every.update(found)
                if not lazy:
                    eager.update(found)
            elif isinstance(node, ast.If) and _type_checking(node):
                walk(node.body, True)
                walk(node.orelse, lazy)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                walk(node.body, True)
            elif isinstance(node, (ast.ClassDef, ast.If, ast.Try, ast.With)):
                for field in ("body", "orelse", "finalbody"):
                    walk(getattr(node, field, []) or [], lazy)
                for handler in getattr(node, "handlers", []) or []:
                    walk(handler.body, lazy)

    walk(tree.body, False)
    return eager, every


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Return the strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def public_names(module: str, path: Path) -> tuple[list[str], list[str]]:
    """Return the public module-level names and the public methods of public classes of a module."""
    if any(part.startswith("_") and part != "__init__" for part in module.split(".")):
        return [], []
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: list[str] = []
    methods: list[str] = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if node.name.startswith("_"):
                continue
            names.append(node.name)
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and not item.name.startswith("_"):
                        methods.append(f"{node.name}.{item.name}")
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name) and not target.id.startswith("_") and target.id != "log":
                    names.append(target.id)
    return names, methods


def is_core(module: str) -> bool:
    parts = module.split(".")
    return len(parts) < 2 or parts[1] not in GLUE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--names", action="store_true", help="list every public name")
    args = parser.parse_args()
    mods = modules(args.root)
    eager: dict[str, set[str]] = {}
    every: dict[str, set[str]] = {}
    airflow_direct: set[str] = set()
    for name, path in mods.items():
        e, a = imports(name, path, mods)
        eager[name] = {m for m in e if m in mods and m != name}
        every[name] = {m for m in a if m in mods and m != name}
        if any(m == "airflow" or m.startswith("airflow.") for m in e):
            airflow_direct.add(name)

    print(f"modules: {len(mods)}")
    long = []
    for name, path in mods.items():
        lines = len(path.read_text(encoding="utf-8").splitlines())
        limit = 250 if is_core(name) else 400
        if lines > limit:
            long.append(f"  {name}: {lines} lines (> {limit}, {'core' if is_core(name) else 'glue/testing'})")
    print(f"modules over their limit: {len(long)}")
    print("\n".join(long))

    for label, graph in (("every import", every), ("imports run at import time", eager)):
        found = circles(graph)
        print(f"import circles ({label}): {len(found)}")
        for component in found:
            print("  " + " <-> ".join(component))

    # Which modules pull Airflow in when imported (transitively, through eager imports).
    pulls: set[str] = set(airflow_direct)
    changed = True
    while changed:
        changed = False
        for name, deps in eager.items():
            if name not in pulls and deps & pulls:
                pulls.add(name)
                changed = True
    core = sorted(n for n in mods if is_core(n) and n != PACKAGE and not n.endswith("get_provider_info"))
    print(f"core modules that import Airflow when imported: {len([n for n in core if n in pulls])} of {len(core)}")
    for name in core:
        if name in pulls:
            print(f"  {name}" + (" (directly)" if name in airflow_direct else ""))

    totals = {"package": [0, 0], "testing": [0, 0]}
    listing = []
    for name, path in mods.items():
        names, methods = public_names(name, path)
        where = totals["testing" if name.startswith(f"{PACKAGE}.testing") else "package"]
        where[0] += len(names)
        where[1] += len(methods)
        if names or methods:
            listing.append(f"  {name}: {', '.join(names + methods)}")
    for where, (n_names, n_methods) in totals.items():
        print(f"public module-level names ({where}): {n_names}; public methods of public classes: {n_methods}")
    if args.names:
        print("\n".join(listing))


if __name__ == "__main__":
    main()
