"""Architecture rules that must hold: the core library never needs streamlit; SQL stays in the store."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_curation_imports_without_streamlit() -> None:
    code = (
        "import sys, importlib, pkgutil\n"
        "sys.modules['streamlit'] = None\n"
        "import curation\n"
        "for m in pkgutil.walk_packages(curation.__path__, 'curation.'):\n"
        "    importlib.import_module(m.name)\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_only_the_store_imports_duckdb() -> None:
    files = [*ROOT.joinpath("curation").rglob("*.py"), *ROOT.joinpath("pages").rglob("*.py"), ROOT / "app.py"]
    offenders = [
        str(p.relative_to(ROOT))
        for p in files
        if p.exists()
        and "store" not in p.relative_to(ROOT).parts
        and any(ln.strip() in ("import duckdb",) or ln.strip().startswith("from duckdb") for ln in p.open())
    ]
    assert offenders == []


SQL = re.compile(
    r"^\s*(SELECT\s.*\sFROM\s|INSERT INTO |UPDATE \w+ SET |DELETE FROM "
    r"|CREATE (TABLE|INDEX|SEQUENCE|VIEW) |WITH \w+ AS )",
    re.DOTALL,
)


def test_no_sql_outside_the_store() -> None:
    files = [
        *ROOT.joinpath("curation").rglob("*.py"),
        *ROOT.joinpath("pages").rglob("*.py"),
        *ROOT.joinpath("ui").rglob("*.py"),
        ROOT / "app.py",
    ]
    offenders = [
        f"{p.relative_to(ROOT)}:{node.lineno}"
        for p in files
        if "store" not in p.relative_to(ROOT).parts
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8")))
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL.match(node.value)
    ]
    assert offenders == []


SHARED = {"store", "jobs", "config", "filters", "diffs", "models", "files", "identity", "executors"}
CAPABILITIES = {"io", "generate", "dedup", "cot", "mixture", "finetune", "team", "operations", "evaluate"}
# Which other capability packages each capability may use (its __init__ docstring says the same).
MAY_USE = {
    "io": set(),
    "generate": {"io", "dedup"},
    "dedup": {"io"},
    "cot": set(),
    "mixture": {"cot"},
    "finetune": {"mixture"},
    "team": set(),
    "operations": {"cot", "dedup", "io", "generate"},
    "evaluate": {"finetune", "mixture"},
    "store": set(),
}


def _curation_imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, imported module, imported names) for every `curation.*` import in a file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("curation"):
            found.append((node.lineno, node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name, []) for a in node.names if a.name.startswith("curation")]
    return found


def test_capabilities_use_only_the_packages_they_declare() -> None:
    offenders = []
    for package, allowed in MAY_USE.items():
        for path in ROOT.joinpath("curation", package).rglob("*.py"):
            for line, module, names in _curation_imports(path):
                parts = module.split(".")
                target = parts[1] if len(parts) > 1 else (names[0] if names else "")
                if target in (package, *SHARED, *allowed):
                    continue
                offenders.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert offenders == []


def test_nobody_imports_private_names_of_another_package() -> None:
    files = [
        *ROOT.joinpath("curation").rglob("*.py"),
        *ROOT.joinpath("pages").glob("*.py"),
        *ROOT.joinpath("ui").glob("*.py"),
    ]
    offenders = [
        f"{p.relative_to(ROOT)}:{line} {module}.{name}"
        for p in files
        for line, module, names in _curation_imports(p)
        for name in names
        if name.startswith("_") and not p.is_relative_to(ROOT.joinpath(*module.split(".")[:2]))
    ]
    assert offenders == []


def test_pages_use_the_store_only_through_its_verbs() -> None:
    """Pages may open a Store and call the domain verb modules, never `store.core` or the migrations."""
    offenders = [
        f"{p.relative_to(ROOT)}:{line} {module}"
        for p in [*ROOT.joinpath("pages").glob("*.py"), *ROOT.joinpath("ui").glob("*.py"), ROOT / "app.py"]
        for line, module, _ in _curation_imports(p)
        if module.startswith(("curation.store.core", "curation.store.migrations"))
    ]
    assert offenders == []


def test_every_capability_package_says_what_it_owns_and_may_import() -> None:
    for package in [*CAPABILITIES, "store"]:
        doc = ast.get_docstring(ast.parse(ROOT.joinpath("curation", package, "__init__.py").read_text()))
        assert doc and "May import" in doc, package


def test_tests_mirror_the_capability_packages() -> None:
    missing = [p for p in [*CAPABILITIES, "store"] if not list(ROOT.joinpath("tests", p).glob("test_*.py"))]
    assert missing == []


def _dedup_module_imports() -> dict[str, set[str]]:
    """For each curation.dedup module: the curation.dedup modules it imports anywhere (function bodies too)."""
    package = ROOT / "curation" / "dedup"
    names = {p.stem for p in package.glob("*.py") if p.stem != "__init__"}
    graph: dict[str, set[str]] = {}
    for name in names:
        targets = set()
        for _, module, imported in _curation_imports(package / f"{name}.py"):
            parts = module.split(".")
            if parts[:2] != ["curation", "dedup"]:
                continue
            targets |= {parts[2]} if len(parts) > 2 else {n for n in imported if n in names}
        graph[name] = targets - {name}
    return graph


def test_dedup_modules_import_each_other_without_a_cycle() -> None:
    graph = _dedup_module_imports()
    assert "distributed" not in graph  # its executor part lives in curation/executors.py
    state: dict[str, str] = {}
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                cycles.append([*path[path.index(target) :], target] if target in path else [node, target])
            elif target not in state:
                visit(target, [*path, target])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_kernels_are_handed_their_executor() -> None:
    """No curation module but curation/executors.py imports ray or reads the ray_address setting: runs are handed
    an executor (the CLI and the pages build it)."""
    offenders = []
    for path in ROOT.joinpath("curation").rglob("*.py"):
        if path == ROOT / "curation" / "executors.py" or path.parent.name == "cli":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            imported = []
            if isinstance(node, ast.Import):
                imported = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            if any(m == "ray" or m.startswith(("ray.", "curation.dedup.distributed")) for m in imported):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {imported[0]}")
            if isinstance(node, ast.Constant) and node.value == "ray_address" and path.name != "config.py":
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} reads the ray_address setting")
    assert offenders == []
