"""The house rules of the code base, checked on its source (issue 27): no import loops, tools/ stands alone,
no module reaches into another's private names.

The import graph counts every import, at module level or inside a function. There is no loop at all: the
registries (detectors, LLM and VLM backends, identity and session stores, eval domains, CLI commands) name
their plugins by module and import them when used, and the plugins import only the registry's small base
module, never the registry.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FOLDERS = {
    "facelens": "facelens",
    "eval": "facelens.eval",
    "agent": "facelens.agent",
    "tools": "facelens.tools",
    "prompts": "facelens.prompts",
    "ui": "facelens.ui",
}


def _modules() -> dict[str, Path]:
    mods = {}
    for folder, package in FOLDERS.items():
        for path in (REPO / folder).rglob("*.py"):
            parts = [p for p in path.relative_to(REPO / folder).with_suffix("").parts if p != "__init__"]
            mods[".".join([package, *parts])] = path
    return mods


MODULES = _modules()
TREES = {name: ast.parse(path.read_text(), str(path)) for name, path in MODULES.items()}


def _owner(name: str) -> str | None:
    """The module that defines ``name`` (a module, or a name inside one)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str):
    """(imported module, imported name or None, line) for every import in ``module``."""
    for node in ast.walk(TREES[module]):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _owner(alias.name):
                    yield _owner(alias.name), None, node.lineno
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                if full in MODULES:
                    yield full, None, node.lineno
                elif _owner(node.module):
                    yield _owner(node.module), alias.name, node.lineno


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for module in MODULES:
        for target, _, _ in _imports(module):
            if target != module:
                graph[module].add(target)
    return graph


def _loops(graph: dict[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    loops: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                loops.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return loops


def test_no_import_loops():
    assert _loops(_graph()) == []


def test_tools_import_nothing_from_agent_ui_or_eval():
    bad = [
        (m, t)
        for m in MODULES
        if m.startswith("facelens.tools.") or m == "facelens.tools"
        for t, _, _ in _imports(m)
        if t.split(".")[1] in {"agent", "ui", "eval"}
    ]
    assert bad == []


def _private(name: str | None) -> bool:
    return bool(name) and name.startswith("_") and not name.startswith("__")


def test_no_module_reaches_into_another_modules_private_names():
    reaches = []
    for module in MODULES:
        aliases = {}
        for node in ast.walk(TREES[module]):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in MODULES:
                        aliases[alias.asname or alias.name] = alias.name
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    if f"{node.module}.{alias.name}" in MODULES:
                        aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        for target, name, line in _imports(module):
            if target != module and _private(name):
                reaches.append(f"{module}:{line} imports {target}.{name}")
        for node in ast.walk(TREES[module]):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in aliases
                and aliases[node.value.id] != module
                and _private(node.attr)
            ):
                reaches.append(f"{module}:{node.lineno} uses {aliases[node.value.id]}.{node.attr}")
    assert sorted(set(reaches)) == []
