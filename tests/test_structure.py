"""The package's shape, checked: no import cycles, nothing below the pipeline imports upward, files
and functions readable in one sitting, and little code written twice.

Imports are read from the source (`ast`), lazy ones inside functions included: a cycle through a
function-level import is still a cycle a reader has to untangle. Imports under
`if TYPE_CHECKING:` are left out (they never run).
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "cinegen"
MAX_FILE_LINES = 600
MAX_FUNCTION_LINES = 80
MAX_DUPLICATE_PAIRS = 10
# Linear training `main(cfg)`s read top to bottom in commented phases (house style 10): exempt.
LONG_FUNCTIONS_ALLOWED = {("cinegen.training.dit", "main"), ("cinegen.training.vae", "main"),
                          ("cinegen.training.distill", "main")}
# Layers that must not import the ones above them.
LOWER_LAYERS = {
    "cinegen.models": ("cinegen.pipeline", "cinegen.generate", "cinegen.service", "cinegen.studio",
                       "cinegen.backlot", "cinegen.planning"),
    "cinegen.sampling": ("cinegen.pipeline", "cinegen.generate", "cinegen.service", "cinegen.studio"),
    "cinegen.pipeline": ("cinegen.generate", "cinegen.service", "cinegen.studio", "cinegen.backlot"),
    "cinegen.generate": ("cinegen.service", "cinegen.studio"),
    "cinegen.planning": ("cinegen.pipeline", "cinegen.generate", "cinegen.service", "cinegen.studio"),
    "cinegen.families": ("cinegen.generate", "cinegen.service", "cinegen.studio", "cinegen.backlot"),
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _type_checking_lines(tree: ast.Module) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for sub in node.body:
                lines.update(range(sub.lineno, (sub.end_lineno or sub.lineno) + 1))
    return lines


def imports_of(name: str) -> set[str]:
    """The cinegen modules `name` imports (at any depth of its code), resolved to modules we have."""
    path = MODULES[name]
    tree = ast.parse(path.read_text())
    skip = _type_checking_lines(tree)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            targets = [f"{base}.{a.name}" for a in node.names] + [base]
        for t in targets:
            while t and t not in MODULES:
                t = t.rpartition(".")[0]
            if t and t != name and t.startswith("cinegen"):
                found.add(t)
    return found


GRAPH = {name: imports_of(name) for name in MODULES}


def _cycles() -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in GRAPH:
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles() -> None:
    assert _cycles() == []


@pytest.mark.parametrize("layer", sorted(LOWER_LAYERS))
def test_lower_layers_do_not_import_upward(layer: str) -> None:
    bad = [
        f"{m} imports {dep}"
        for m, deps in GRAPH.items()
        if m == layer or m.startswith(layer + ".")
        for dep in deps
        if any(dep == up or dep.startswith(up + ".") for up in LOWER_LAYERS[layer])
    ]
    assert bad == []


def test_no_file_longer_than_the_limit() -> None:
    long = {m: n for m, p in MODULES.items() if (n := len(p.read_text().splitlines())) > MAX_FILE_LINES}
    assert long == {}


def test_no_function_longer_than_the_limit() -> None:
    long = []
    for m, p in MODULES.items():
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = (node.end_lineno or node.lineno) - node.lineno + 1
                if n > MAX_FUNCTION_LINES and (m, node.name) not in LONG_FUNCTIONS_ALLOWED:
                    long.append(f"{m}.{node.name}: {n} lines")
    assert long == []


@pytest.mark.skipif(shutil.which("duplicates") is None, reason="the `duplicates` tool is not installed here")
def test_little_code_written_twice() -> None:
    out = subprocess.run(
        ["duplicates", "--repo", str(PACKAGE), "--most", "200", "--seconds", "300"],
        capture_output=True, text=True, timeout=600, check=False,
    ).stdout
    m = re.match(r"(\d+) pairs? of places", out)
    pairs = int(m.group(1)) if m else 0
    assert pairs <= MAX_DUPLICATE_PAIRS, out
