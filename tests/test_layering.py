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
