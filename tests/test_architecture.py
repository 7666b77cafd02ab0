"""The import rules of docs/architecture.md, checked on the source: imports point down, no cycles."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "dkdpose"

# The layers, lowest first: a module may import its own layer and the layers below it, never above.
LAYERS = [
    {"errors"},
    {"io", "skeleton", "devices", "config_files"},
    {"data"},
    {"models"},
    {"config"},
    {"inference"},
    {"training", "evaluation"},  # training validates with evaluation.metrics
    {"export", "efficiency"},
    {"experiments"},
    {"cli", "__init__", "__main__"},
]


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _is_type_checking(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def _imports(tree: ast.AST, modules: dict[str, Path]) -> list[tuple[str, bool]]:
    """(imported dkdpose module, inside a function) for every import that runs (TYPE_CHECKING skipped)."""
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            return
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("dkdpose"):
            for alias in node.names:  # `from dkdpose.training import step` names a module
                sub = f"{node.module}.{alias.name}"
                found.append((sub if sub in modules else node.module, in_function))
        elif isinstance(node, ast.Import):
            found.extend((a.name, in_function) for a in node.names if a.name.startswith("dkdpose"))
        inner = in_function or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        for child in ast.iter_child_nodes(node):
            visit(child, inner)

    visit(tree, False)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        imports = _imports(ast.parse(path.read_text()), modules)
        graph[name] = {m for m, _ in imports if m in modules and m != name}
    return graph


def _layer(module: str) -> int:
    unit = module.split(".")[1] if "." in module else "__init__"
    return next(i for i, units in enumerate(LAYERS) if unit in units)


def test_every_module_has_a_layer():
    unknown = sorted(m for m in _modules() if not any(
        (m.split(".")[1] if "." in m else "__init__") in units for units in LAYERS))  # fmt: skip
    assert unknown == [], "add these to LAYERS (and to docs/architecture.md)"


def test_imports_point_down_the_layers():
    upward = [
        f"{m} -> {dep}"
        for m, deps in _graph().items()
        for dep in deps
        if _layer(dep) > _layer(m)
    ]
    assert upward == []


def test_no_import_cycles():
    try:
        graphlib.TopologicalSorter(_graph()).prepare()
    except graphlib.CycleError as e:
        pytest.fail(f"import cycle: {' -> '.join(e.args[1])}")


def test_imports_inside_functions_only_in_the_cli():
    inside = []
    for name, path in _modules().items():
        if name == "dkdpose.cli":  # imports on demand keep `dkdpose --help` fast
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                imports = [n for n in ast.walk(node) if isinstance(n, ast.Import | ast.ImportFrom)]
                inside += [f"{name}.{node.name}"] * len(imports)
    assert inside == []


def test_at_most_twelve_modules_at_the_top_level():
    assert len(list(PACKAGE.glob("*.py"))) <= 12


@pytest.mark.parametrize("command_module", ["dkdpose.cli", "dkdpose.__main__"])
def test_no_library_module_imports_a_command_entry_point(command_module):
    users = sorted(m for m, deps in _graph().items() if command_module in deps and m != "dkdpose.__main__")
    assert users == []
