"""The layout's rules, checked on the source with `ast` (docs/architecture.md).

- Imports run one way: a module imports only from its own layer or the layers below.
- No import cycle between placer's modules (an import inside a function counts: a
  lazy import hides a cycle from Python, not from a reader).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "placer"

#: Layers, lowest first; a module belongs to the first prefix it matches.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("placer.errors", "placer.progress", "placer.interrupt", "placer.status", "placer.data"),
    ("placer.model",),
    ("placer.importers",),  # reads inputs into scenario documents; only placer.cli uses it
    ("placer.problem",),
    ("placer.engines",),
    ("placer.plan",),
    ("placer.api", "placer"),  # the public API: placer/__init__.py re-exports placer.api
    ("placer.analysis", "placer.capacity"),
    ("placer.outputs",),
    ("placer.cli",),
)


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def layer_of(module: str) -> int:
    for i, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if prefix == "placer":
                if module == "placer":
                    return i
            elif module == prefix or module.startswith(prefix + "."):
                return i
    raise AssertionError(f"{module} is in no layer of LAYERS")


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(path: Path, known: set[str]) -> set[str]:
    """placer modules that `path` imports (anywhere in the file), resolved to modules."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from placer.x import y`: y may be a submodule or a name in placer.x
            names = [
                f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in known else node.module
                for a in node.names
            ]
        else:
            continue
        out.update(n for n in names if n == "placer" or n.startswith("placer."))
    return out


def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {m: {i for i in imports_of(p, known) if i != m} for m, p in mods.items()}


def test_every_import_runs_down_the_layers():
    upward = [
        f"{m} (layer {layer_of(m)}) imports {i} (layer {layer_of(i)})"
        for m, deps in graph().items()
        for i in sorted(deps)
        if layer_of(i) > layer_of(m)
    ]
    assert upward == []


def test_no_import_cycles():
    g = graph()
    # Tarjan's strongly connected components; a component of two or more is a cycle
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in g.get(v, ()):
            if w not in g:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            # a package's __init__ importing its own submodules is not a cycle of code
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    assert cycles == []


def test_layer_table_covers_every_module():
    for m in modules():
        layer_of(m)  # raises for a module outside every layer


def test_the_checker_sees_an_upward_import(tmp_path):
    """The walk finds `from placer.cli.main import main` in an engine module."""
    src = tmp_path / "mod.py"
    src.write_text("def f():\n    from placer.cli.main import main\n    return main\n")
    found = imports_of(src, set(modules()))
    assert found == {"placer.cli.main"}
    assert layer_of("placer.cli.main") > layer_of("placer.engines.greedy")
