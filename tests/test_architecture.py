"""The floor plan, read from the source with `ast`: arrows point one way between the rooms of `core` and `pages`.

Every `import` and `from ... import` counts, at the top of a module or inside a function: an import made
late to save start-up time is still an arrow.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = ("core", "pages", "app")
COMMAND_LINE = {"core.cli", "core.__main__"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def sources() -> dict[str, Path]:
    files = [*ROOT.glob("core/**/*.py"), *ROOT.glob("pages/**/*.py"), ROOT / "app.py"]
    return {module_name(path): path for path in files}


def imported(path: Path, name: str, known: set[str]) -> set[str]:
    """The project modules `path` imports; `from core.x import y` counts as core.x.y when that is a module."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1], base]).strip(".")
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in known)
    return {module for module in found if module.split(".")[0] in OURS or module.split(".")[0] == "streamlit"}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = sources()
    known = set(modules)
    return {name: imported(path, name, known) for name, path in modules.items()}


def edges(graph: dict[str, set[str]], source: str, target: str) -> list[str]:
    """`a -> b` for each module under `source` importing a module under `target` (a prefix of dotted names)."""
    return sorted(
        f"{a} -> {b}" for a, targets in graph.items() if within(a, source) for b in targets if within(b, target)
    )


def within(module: str, room: str) -> bool:
    return module == room or module.startswith(room + ".")


def test_the_graph_sees_the_rooms(graph: dict[str, set[str]]) -> None:
    """A guard for the guards: the parser finds imports that are known to exist."""
    assert "core.data.vocab" in graph["core.data.store"]
    assert "core.runs.spare" in graph["core.runs.launcher"]
    assert "streamlit" in graph["app"]


def test_no_import_circle(graph: dict[str, set[str]]) -> None:
    project = {name: {t for t in targets if t in graph} for name, targets in graph.items()}
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> None:
        if node in path:
            raise AssertionError("import circle: " + " -> ".join([*path[path.index(node) :], node]))
        if node in done:
            return
        for target in sorted(project[node]):
            if target != node and not within(node, target):  # a module may import its own package's __init__
                visit(target, [*path, node])
        done.add(node)

    for name in sorted(project):
        visit(name, [])


def test_core_never_imports_pages_or_streamlit(graph: dict[str, set[str]]) -> None:
    assert edges(graph, "core", "pages") == []
    assert edges(graph, "core", "streamlit") == []


def test_only_the_command_line_imports_the_benchmarks(graph: dict[str, set[str]]) -> None:
    outside = [edge for edge in edges(graph, "core", "core.bench") if not edge.startswith("core.bench")]
    assert [edge for edge in outside if edge.split(" -> ")[0] not in COMMAND_LINE] == []
    assert edges(graph, "pages", "core.bench") == []


def test_the_run_folder_never_imports_what_it_launches(graph: dict[str, set[str]]) -> None:
    for launched in ("core.job", "core.trainer", "core.cli", "core.engines"):
        assert edges(graph, "core.runs", launched) == []


def test_data_never_imports_runs_engines_or_the_loop(graph: dict[str, set[str]]) -> None:
    for later in ("core.runs", "core.engines", "core.trainer", "core.job", "core.explore"):
        assert edges(graph, "core.data", later) == []


def test_explore_never_trains(graph: dict[str, set[str]]) -> None:
    for training in ("core.job", "core.trainer", "core.engines"):
        assert edges(graph, "core.explore", training) == []


def test_core_keeps_few_modules_at_its_top() -> None:
    top = sorted(p.name for p in (ROOT / "core").glob("*.py") if p.name not in ("__init__.py", "__main__.py"))
    rooms = sorted(p.name for p in (ROOT / "core").iterdir() if (p / "__init__.py").is_file())
    assert rooms == ["bench", "data", "engines", "explore", "runs"]
    assert len(top) <= 10, top


def test_pages_show_the_seven_pages_at_their_top() -> None:
    pages = sorted(p.name for p in (ROOT / "pages").glob("*.py"))
    assert pages == ["compare.py", "evaluate.py", "home.py", "inside.py", "neighbours.py", "projection.py", "train.py"]


def test_every_room_says_what_it_owns() -> None:
    for room in ("bench", "data", "engines", "explore", "runs"):
        doc = ast.get_docstring(ast.parse((ROOT / "core" / room / "__init__.py").read_text(encoding="utf-8")))
        assert doc and "import" in doc, f"core/{room}/__init__.py must say what it owns and what it may import"


TEST_TOOLS = ("triton", "pytest", "playwright")


def module_level_imports(path: Path, name: str) -> set[str]:
    """Every module `path` imports when it is imported: the imports outside functions (a class body runs too)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    pending: list[ast.AST] = [ast.parse(path.read_text(encoding="utf-8"))]
    while pending:
        for node in ast.iter_child_nodes(pending.pop()):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                continue
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    base = ".".join([*parts[: len(parts) - node.level + 1], base]).strip(".")
                found.add(base)
                found.update(f"{base}.{alias.name}" for alias in node.names)
            pending.append(node)
    return found


def test_the_app_and_the_command_line_import_no_test_tool() -> None:
    """requirements.txt lacks the test tools: nothing that starting the app, a page, a training process or a
    notebook's `train` imports may import them (Triton loads only on the CUDA path, Playwright for `--watch`)."""
    modules = sources()
    graph = {name: module_level_imports(path, name) for name, path in modules.items()}
    roots = ["app", *(name for name in modules if name.startswith("pages")), "core.__main__", "core.notebook"]
    roots += ["core.runs.launcher", "core.runs.spare", "core.explore.projection"]
    seen: set[str] = set()
    pending = list(roots)
    while pending:
        module = pending.pop()
        for parent in (module.split(".")[:i] for i in range(1, module.count(".") + 2)):
            name = ".".join(parent)
            if name not in seen:
                seen.add(name)
                pending.extend(graph.get(name, ()))
    assert {"core.job", "core.trainer", "core.engines.fast_triton", "torch"} <= seen, "a guard for the guard"
    assert sorted(name for name in seen if name.split(".")[0] in TEST_TOOLS) == []
    assert "core.engines.kernel_triton" not in seen
