"""The layering the README's Development section describes, enforced: the core imports no adapter and no heavy
library, no module reaches into another's private names, and no two modules import each other (directly or round a
longer loop). Imports only for the type checker (`if TYPE_CHECKING:`) never run, so only the cycle test counts them."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "iop_cli"

# The pure core: parsing, checking and deciding. No terminal, no database, no dataframes.
CORE = {"expr", "policy", "pack", "engine", "answers", "interview", "yamlsrc", "problems", "safe_text", "files"}
HEAVY = {"typer", "rich", "questionary", "prompt_toolkit", "polars", "duckdb", "sqlite3", "click"}


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports(module: Path, type_only: bool = False) -> list[tuple[str, list[str], int]]:
    """(imported module, names imported from it, line) for every import that runs, at any depth; with `type_only`,
    also those only the type checker reads."""
    found: list[tuple[str, list[str], int]] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _type_checking_only(child) and not type_only:
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.Import):
                found.extend((alias.name, [], child.lineno) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                names = [alias.name for alias in child.names]
                if child.level == 1:
                    if child.module:
                        found.append(("iop_cli." + child.module, names, child.lineno))
                    else:
                        found.extend(("iop_cli." + name, [], child.lineno) for name in names)
                elif child.module:
                    found.append((child.module, names, child.lineno))
            visit(child)

    visit(ast.parse(module.read_text(encoding="utf-8")))
    return found


MODULES = {path.stem: imports(path) for path in PACKAGE.glob("*.py")}
WITH_TYPES = {path.stem: imports(path, type_only=True) for path in PACKAGE.glob("*.py")}


def _internal(name: str) -> str | None:
    if name.startswith("iop_cli."):
        return name.split(".")[1]
    return None


def test_the_core_imports_no_adapter_and_no_heavy_library():
    wrong = []
    for module in sorted(CORE):
        for name, _, line in MODULES[module]:
            inner = _internal(name)
            if inner is not None and inner not in CORE and inner != "__init__":
                wrong.append(f"iop_cli/{module}.py:{line} imports the adapter `{inner}`")
            if name.split(".")[0] in HEAVY:
                wrong.append(f"iop_cli/{module}.py:{line} imports `{name}`")
    assert not wrong, "\n".join(wrong)


def test_no_module_imports_another_modules_private_names():
    wrong = [
        f"iop_cli/{module}.py:{line} imports `{private}` from `{name}`"
        for module, found in MODULES.items()
        for name, names, line in found
        if _internal(name) not in (None, module)
        for private in names
        if private.startswith("_") and not private.startswith("__")
    ]
    assert not wrong, "\n".join(wrong)


def test_no_import_cycles():
    """Counting imports for the type checker too: a module that needs another's types depends on it."""
    graph = {
        module: {inner for name, _, _ in found if (inner := _internal(name)) and inner in MODULES and inner != module}
        for module, found in WITH_TYPES.items()
    }
    cycles = []
    state: dict[str, int] = {}  # 1 on the current path, 2 done

    def walk(module: str, path: list[str]) -> None:
        state[module] = 1
        for nxt in sorted(graph[module]):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join([*path[path.index(nxt) :], nxt]))
            elif nxt not in state:
                walk(nxt, [*path, nxt])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            walk(module, [module])
    assert not cycles, "\n".join(cycles)


def test_the_checks_see_real_imports():
    """The walker finds imports inside functions and skips type-checker-only ones (else the tests above prove
    nothing)."""
    engine = {name for name, _, _ in MODULES["engine"]}
    assert "iop_cli.policy" in engine
    assert "iop_cli.pack" not in {name for name, _, _ in MODULES["policy"]}  # only under TYPE_CHECKING
    assert "iop_cli.pack" in {name for name, _, _ in WITH_TYPES["policy"]}
    score = {name for name, _, _ in MODULES["score"]}
    assert "iop_cli.batch" in score  # imported inside the command function
