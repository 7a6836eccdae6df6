"""The package layout holds: no import cycles between genlab modules, products import only the core.

Read from the modules' own source with `ast`, so a function-local import counts as much as a
top-level one.
"""

from __future__ import annotations

import ast
from pathlib import Path

import genlab

PACKAGE = Path(genlab.__file__).parent
PRODUCTS = ("images", "arith")
# the one import across products: the `digits` feature space reads MNIST with the glyph reader
ALLOWED_ACROSS = {("genlab.images.features", "genlab.arith.glyphs")}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                base = node.module
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    targets.add(full if full in modules else base)
            elif isinstance(node, ast.Import):
                targets.update(a.name for a in node.names)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def product(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 and parts[1] in (*PRODUCTS, "core") else None


def test_no_import_cycles_between_genlab_modules():
    assert find_cycle(import_graph()) is None, " -> ".join(find_cycle(import_graph()) or [])


def test_products_import_only_the_core_and_the_named_exception():
    wrong = [
        (src, dst)
        for src, targets in import_graph().items()
        for dst in targets
        if product(src) in PRODUCTS
        and dst.startswith("genlab.")
        and product(dst) != "core"
        and product(dst) != product(src)
        and (src, dst) not in ALLOWED_ACROSS
    ]
    assert wrong == []


def test_the_core_imports_no_product():
    wrong = [
        (src, dst)
        for src, targets in import_graph().items()
        if product(src) == "core"
        for dst in targets
        if dst.startswith("genlab.") and product(dst) != "core" and dst != "genlab"
    ]
    assert wrong == []


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
