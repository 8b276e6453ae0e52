"""The package's shape: no import cycles, no private names across modules, one registry of stages."""

from __future__ import annotations

import ast
from pathlib import Path

from bffkit.stages import STAGES

PACKAGE = Path(__file__).resolve().parents[1] / "bffkit"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module imported, names taken from it) for every bffkit import in a file, lazy ones too."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] == "bffkit":
                out.append((target, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names if a.name.split(".")[0] == "bffkit"]
    return out


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    edges: dict[str, set[str]] = {m: set() for m in modules}
    for m, path in modules.items():
        for target, names in imports(path):
            for sub in names:  # `from . import ids` imports the module bffkit.store.ids
                if f"{target}.{sub}" in modules:
                    edges[m].add(f"{target}.{sub}")
            if target in modules and target != m:
                edges[m].add(target)
    return edges


def test_no_import_cycles():
    edges = graph()
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for n in sorted(edges[m]):
            if n == "bffkit":  # the top-level package only re-exports (cli reads its version)
                continue
            if state.get(n) == 1:
                cycles.append(stack[stack.index(n):] + [n])
            elif n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m)
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles)


def test_no_private_names_imported_across_modules():
    offenders = [f"{module_name(p)}: {t}.{n}" for p in PACKAGE.rglob("*.py") for t, names in imports(p)
                 for n in names if n.startswith("_") and n != "__version__"]
    assert not offenders, offenders


def test_algorithm_modules_never_import_the_store():
    pure = ("taxonomy", "prompts", "cluster", "dpp", "coverage", "learning", "scoring", "tagging", "analytics")
    for name in pure:
        taken = [t for t, _ in imports(PACKAGE / f"{name}.py")]
        assert not [t for t in taken if t.startswith(("bffkit.store", "bffkit.stages", "bffkit.pipeline"))], name


def test_only_the_store_speaks_sql():
    for path in PACKAGE.rglob("*.py"):
        if "store" in path.relative_to(PACKAGE).parts:
            continue
        text = path.read_text()
        assert "con.execute(" not in text and "duckdb.connect(" not in text, path


def test_stages_are_numbered_in_order_and_named_alike_everywhere():
    assert [s.number for s in STAGES] == list(range(1, len(STAGES) + 1))
    notebooks = sorted(p.stem for p in (PACKAGE.parent / "notebooks").glob("*.ipynb"))
    assert notebooks == [s.notebook for s in STAGES]
    for s in STAGES:
        assert (PACKAGE / "stages" / f"{s.name}.py").is_file()
        assert s.notebook == f"{s.number:02d}_{s.name}"


def test_python_dash_m_bffkit_is_the_cli():
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "bffkit", "--version"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.startswith("bffkit, version"), proc.stderr
    bad = subprocess.run([sys.executable, "-m", "bffkit", "run"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.startswith("error: bffkit run:")
