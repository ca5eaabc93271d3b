"""The layering the README's Development section describes, enforced.

Layers, lowest first; a module may import its own layer and those below, never one above:
  base       exit_codes, problems, safe_text, env, files
  lang       the condition language
  pack       the rule pack (model, source, build, spec, answers)
  decide     policy, engine, frame
  machine    interview.machine
  adapters   batch, authoring, output, store, interview.prompts
  commands   commands, cli, __main__
The core (base to machine) imports no terminal, CLI or database library; only the back ends that compile to Polars
(`lang.polars`, `decide.frame`) import it. No module reaches into another's private names, no two modules import
each other (directly or round a longer loop), and no two subpackages do. Imports only for the type checker
(`if TYPE_CHECKING:`) never run, so only the cycle tests count them."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "iop_cli"

BASE = {"__init__", "exit_codes", "problems", "safe_text", "env", "files"}
LAYERS = [("base", 0), ("lang", 1), ("pack", 2), ("decide", 3), ("interview.machine", 4)]
ADAPTERS = {"batch", "authoring", "output", "store", "exchange", "warehouse", "interview.prompts"}
COMMANDS = {"commands", "cli", "__main__"}
HEAVY = {"typer", "rich", "questionary", "prompt_toolkit", "polars", "duckdb", "sqlite3", "click"}
POLARS_BACK_ENDS = {"lang.polars", "decide.frame"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports(path: Path, type_only: bool = False) -> list[tuple[str, list[str], int]]:
    """(imported module, names imported from it, line) for every import that runs, at any depth; with `type_only`,
    also those only the type checker reads. `from iop_cli.pack import source` counts as importing `pack.source`."""
    found: list[tuple[str, list[str], int]] = []
    package = module_name(path).split(".")[:-1] if path.name != "__init__.py" else module_name(path).split(".")

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
                base = child.module or ""
                if child.level:  # relative: resolve against this module's package
                    up = package[: len(package) - (child.level - 1)]
                    base = ".".join(["iop_cli", *up, *([base] if base else [])])
                for alias in names:
                    if (PACKAGE / Path(*base.split(".")[1:]) / alias).with_suffix(".py").exists():
                        found.append((f"{base}.{alias}", [], child.lineno))  # a submodule
                        names = [n for n in names if n != alias]
                found.append((base, names, child.lineno))
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return found


PATHS = sorted(PACKAGE.rglob("*.py"))
MODULES = {module_name(p): imports(p) for p in PATHS}
WITH_TYPES = {module_name(p): imports(p, type_only=True) for p in PATHS}


def _internal(name: str) -> str | None:
    if name == "iop_cli":
        return "__init__"
    if name.startswith("iop_cli."):
        inner = name[len("iop_cli.") :]
        while inner not in MODULES and "." in inner:  # `iop_cli.pack.model.Pack` style names: the module part
            inner = inner.rsplit(".", 1)[0]
        return inner
    return None


def layer(module: str) -> int:
    """The layer number of a module: 0-4 for the core, 5 for adapters, 6 for the commands."""
    if module in BASE:
        return 0
    if (PACKAGE / module.replace(".", "/") / "__init__.py").exists():  # a subpackage's own __init__: its lowest
        return min(layer(inner) for inner in MODULES if inner.startswith(module + "."))
    for prefix, number in LAYERS[1:]:
        if module == prefix or module.startswith(prefix + "."):
            return number
    if module in COMMANDS or module.split(".")[0] in COMMANDS:
        return 6
    assert module in ADAPTERS or module.split(".")[0] in ADAPTERS or module.rsplit(".", 1)[0] in ADAPTERS, module
    return 5


def test_every_module_has_a_layer():
    assert {layer(m) for m in MODULES} == set(range(7))


def test_no_module_imports_a_layer_above_its_own():
    wrong = []
    for module, found in sorted(MODULES.items()):
        for name, _, line in found:
            inner = _internal(name)
            if inner is None or inner in ("__init__",):
                continue
            if layer(inner) > layer(module) or (layer(module) == 5 and inner.split(".")[0] in COMMANDS):
                wrong.append(f"iop_cli/{module}:{line} imports `{inner}` from a layer above")
    assert not wrong, "\n".join(wrong)


def test_the_core_imports_no_heavy_library():
    wrong = []
    for module, found in sorted(MODULES.items()):
        if layer(module) > 4:
            continue
        for name, _, line in found:
            top = name.split(".")[0]
            if top in HEAVY and not (top == "polars" and module in POLARS_BACK_ENDS):
                wrong.append(f"iop_cli/{module}:{line} imports `{name}`")
    assert not wrong, "\n".join(wrong)


def test_only_the_commands_import_the_commands():
    wrong = [
        f"iop_cli/{module}:{line} imports `{inner}`"
        for module, found in MODULES.items()
        if layer(module) < 6
        for name, _, line in found
        if (inner := _internal(name)) and layer(inner) == 6
    ]
    assert not wrong, "\n".join(wrong)


def test_no_module_imports_another_modules_private_names():
    wrong = [
        f"iop_cli/{module}:{line} imports `{private}` from `{name}`"
        for module, found in MODULES.items()
        for name, names, line in found
        if _internal(name) not in (None, module)
        for private in names
        if private.startswith("_") and not private.startswith("__") and _internal(f"{name}.{private}") != private
    ]
    assert not wrong, "\n".join(wrong)


def _cycles(graph: dict[str, set[str]]) -> list[str]:
    cycles = []
    state: dict[str, int] = {}  # 1 on the current path, 2 done

    def walk(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join([*path[path.index(nxt) :], nxt]))
            elif nxt not in state:
                walk(nxt, [*path, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            walk(node, [node])
    return cycles


def _graph(group) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module, found in WITH_TYPES.items():
        edges = graph.setdefault(group(module), set())
        for name, _, _ in found:
            inner = _internal(name)
            if inner and inner != "__init__" and group(inner) != group(module):
                edges.add(group(inner))
    for targets in list(graph.values()):
        for target in targets:
            graph.setdefault(target, set())
    return graph


def test_no_import_cycles():
    """Counting imports for the type checker too: a module that needs another's types depends on it."""
    cycles = _cycles(_graph(lambda m: m))
    assert not cycles, "\n".join(cycles)


def test_no_two_subpackages_import_each_other():
    cycles = _cycles(_graph(lambda m: m.split(".")[0]))
    assert not cycles, "\n".join(cycles)


def test_the_checks_see_real_imports():
    """The walker finds imports inside functions, resolves `from package import module`, and skips
    type-checker-only ones (else the tests above prove nothing)."""
    engine = {name for name, _, _ in MODULES["decide.engine"]}
    assert "iop_cli.decide.policy" in engine
    assert "iop_cli.pack.model" not in {name for name, _, _ in MODULES["decide.policy"]}  # only TYPE_CHECKING
    assert "iop_cli.pack.model" in {name for name, _, _ in WITH_TYPES["decide.policy"]}
    score = {name for name, _, _ in MODULES["commands.score"]}
    assert "iop_cli.batch.score" in score  # imported inside the command function
    assert layer("commands.check") == 6 and layer("interview.prompts") == 5 and layer("interview.machine") == 4
    assert _cycles({"a": {"b"}, "b": {"a"}}) == ["a -> b -> a"]
