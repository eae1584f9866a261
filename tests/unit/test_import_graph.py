"""The module graph of app/ and deploy/ has no cycle, and the Django side never imports deploy/.

Static: every file is parsed with ast, nothing of the project is imported. Imports count wherever they are
(module level, functions, methods, class bodies, try/except, ``if TYPE_CHECKING:`` blocks). A function-level
or type-checking-only import is still a dependency: it only hides a cycle.

Modules are found by walking the folders, so moving or adding a package needs no change here.
"""

from __future__ import annotations

import ast
import itertools
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# name -> (folder to walk, folder module names are relative to). app/ is a sys.path entry (pythonpath and
# the uWSGI chdir), so app/dbrouter/x.py is `dbrouter.x`; deploy/ is a package of the repo root.
ROOTS: dict[str, tuple[Path, Path]] = {
    "app": (REPO / "app", REPO / "app"),
    "deploy": (REPO / "deploy", REPO),
}


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    is_package: bool


@dataclass(frozen=True)
class ImportRef:
    """One import statement's target, absolute, as written (not yet matched to a known module)."""

    target: str  # "a.b" for `import a.b` and `from a.b import c` (relative forms made absolute)
    names: tuple[str, ...]  # the imported names for `from X import names`, () for `import X`
    line: int
    scope: str  # "module", or the enclosing function/class, for the failure message
    type_checking: bool


def walk_modules(folder: Path, base: Path) -> Iterator[Module]:
    """Every .py file under folder, named as importable from base (pkg/__init__.py is `pkg`)."""
    for path in sorted(folder.rglob("*.py")):
        rel = path.relative_to(base)
        if any(part == "__pycache__" or part.startswith(".") for part in rel.parts):
            continue
        parts = list(rel.with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        if parts:
            yield Module(".".join(parts), path, is_package)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _resolve_relative(module: Module, level: int, name: str | None) -> str | None:
    """The absolute name `from <level dots><name>` means inside module; None if it climbs past the top."""
    package = module.name.split(".") if module.is_package else module.name.split(".")[:-1]
    if level - 1 >= len(package):
        return None  # Python: "attempted relative import beyond top-level package"
    base = package[: len(package) - (level - 1)]
    return ".".join([*base, name] if name else base)


class _Collector(ast.NodeVisitor):
    def __init__(self, module: Module) -> None:
        self.module = module
        self.refs: list[ImportRef] = []
        self._scopes: list[str] = []
        self._type_checking = 0

    def _scope(self) -> str:
        return ".".join(self._scopes) or "module"

    def _nested(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> None:
        self._scopes.append(node.name)
        self.generic_visit(node)
        self._scopes.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _nested

    def visit_If(self, node: ast.If) -> None:
        if not _is_type_checking(node.test):
            self.generic_visit(node)
            return
        self.visit(node.test)
        self._type_checking += 1
        for stmt in node.body:
            self.visit(stmt)
        self._type_checking -= 1
        for stmt in node.orelse:
            self.visit(stmt)

    def _add(self, target: str, names: tuple[str, ...], node: ast.stmt) -> None:
        self.refs.append(ImportRef(target, names, node.lineno, self._scope(), self._type_checking > 0))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, (), node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        names = tuple(a.name for a in node.names)
        if node.level:
            target = _resolve_relative(self.module, node.level, node.module)
            if target is None:
                return
        else:
            target = node.module or ""
        self._add(target, names, node)


def import_refs(module: Module) -> list[ImportRef]:
    collector = _Collector(module)
    collector.visit(ast.parse(module.path.read_text(encoding="utf-8"), filename=str(module.path)))
    return collector.refs


def _known(name: str, known: Mapping[str, Module]) -> str | None:
    """The most specific known module that `import name` loads (a.b.c -> a.b if only a.b is ours)."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in known:
            return candidate
    return None


def targets(ref: ImportRef, known: Mapping[str, Module]) -> set[str]:
    """The known modules one import depends on. `from pkg import sub` depends on pkg (its __init__ runs
    first, so a package whose __init__ imports a submodule that does `from . import x` is a cycle) and on
    the submodule pkg.sub when that is a module. The packages enclosing `import a.b.c` are not edges."""
    found: set[str] = set()
    if ref.names and (hit := _known(ref.target, known)) is not None:
        found.add(hit)
    for name in ref.names:
        if name != "*" and f"{ref.target}.{name}" in known:
            found.add(f"{ref.target}.{name}")
    if not ref.names and (hit := _known(ref.target, known)) is not None:
        found.add(hit)
    return found


Graph = dict[str, set[str]]
Where = dict[tuple[str, str], list[str]]


def build_graph(modules: Iterable[Module]) -> tuple[Graph, Where]:
    known = {m.name: m for m in modules}
    graph: Graph = {name: set() for name in known}
    where: Where = {}
    for module in known.values():
        for ref in import_refs(module):
            for dst in targets(ref, known):
                if dst == module.name:
                    continue  # `from . import x` inside pkg/__init__.py resolving to pkg itself
                graph[module.name].add(dst)
                shown = module.path.relative_to(REPO) if module.path.is_relative_to(REPO) else module.path
                where.setdefault((module.name, dst), []).append(f"{shown}:{ref.line} ({ref.scope})")
    return graph, where


def find_cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The strongly connected components with a cycle (Tarjan, iterative), each sorted, sorted by first
    member: every module on some import cycle is in exactly one of them."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    nodes = sorted(set(graph) | {d for ds in graph.values() for d in ds})
    succ = {n: sorted(graph.get(n, ())) for n in nodes}
    for root in nodes:
        if root in index:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            if i < len(succ[node]):
                work.append((node, i + 1))
                nxt = succ[node][i]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if work:  # node is done: pass its low-link to the caller
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in succ[node]:
                    found.append(sorted(component))
    return sorted(found)


def cycle_path(graph: Mapping[str, Iterable[str]], component: list[str]) -> list[str]:
    """One concrete cycle inside a component, from its first member back to it (shortest, BFS)."""
    start, members = component[0], set(component)
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for nxt in sorted(graph.get(node, ())):
            if nxt not in members:
                continue
            if nxt == start:
                path = [node]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return [*reversed(path), start]
            if nxt not in came_from:
                came_from[nxt] = node
                queue.append(nxt)
    raise AssertionError(f"{component} is not a cycle")


def describe(graph: Graph, where: Where, cycles: list[list[str]]) -> str:
    lines = []
    for component in cycles:
        path = cycle_path(graph, component)
        lines.append(f"import cycle among {', '.join(component)}: {' -> '.join(path)}")
        for src, dst in itertools.pairwise(path):
            lines.append(f"    {src} -> {dst}: {'; '.join(where.get((src, dst), ['?']))}")
    return "\n".join(lines)


def project_modules() -> list[Module]:
    return [m for folder, base in ROOTS.values() for m in walk_modules(folder, base)]


# --- the checks on the real tree ---------------------------------------------------------------------


@pytest.mark.parametrize("root", sorted(ROOTS))
def test_no_import_cycle(root: str) -> None:
    graph, where = build_graph(project_modules())
    folder = ROOTS[root][0]
    ours = {m.name for m in walk_modules(folder, ROOTS[root][1])}
    assert ours, f"no modules found under {folder}"
    cycles = [c for c in find_cycles(graph) if ours.intersection(c)]
    assert not cycles, f"{root}/ has import cycles:\n{describe(graph, where, cycles)}"


def test_app_never_imports_deploy() -> None:
    """The Django side learns its world from its environment only (deploy/ renders that environment)."""
    folder, base = ROOTS["app"]
    offenders = [
        f"{m.path.relative_to(REPO)}:{ref.line} imports {ref.target or '.'}"
        for m in walk_modules(folder, base)
        for ref in import_refs(m)  # TYPE_CHECKING imports included: still a dependency on deploy's code
        if ref.target == "deploy" or ref.target.startswith("deploy.")
    ]
    assert not offenders, "\n".join(offenders)


# --- the helpers themselves ----------------------------------------------------------------------------


def test_find_cycles_on_a_synthetic_graph() -> None:
    graph = {
        "a": {"b"},
        "b": {"c"},
        "c": {"a", "d"},  # a -> b -> c -> a
        "d": {"e"},
        "e": set(),
        "f": {"f"},  # a module importing itself
        "g": {"h", "a"},  # h <-> g, and a way into the first cycle that is not part of it
        "h": {"g"},
    }
    assert find_cycles(graph) == [["a", "b", "c"], ["f"], ["g", "h"]]
    assert cycle_path(graph, ["a", "b", "c"]) == ["a", "b", "c", "a"]
    del graph["c"]  # cut the edge c -> a (c becomes a leaf)
    assert find_cycles(graph) == [["f"], ["g", "h"]]
    assert find_cycles({"x": {"y"}, "y": {"z"}, "z": set()}) == []


def test_find_cycles_on_a_long_chain() -> None:
    """Iterative, so a deep graph does not hit the recursion limit."""
    n = 5000
    chain = {str(i): {str(i + 1)} for i in range(n)}
    assert find_cycles(chain) == []
    chain[str(n)] = {"0"}
    assert [len(c) for c in find_cycles(chain)] == [n + 1]


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_graph_resolves_relative_function_level_and_submodule_imports(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "from . import b\nfrom .sub.c import thing\n",
            "pkg/b.py": "def f():\n    from .sub import c\n",
            "pkg/sub/__init__.py": "from .c import thing\n",
            "pkg/sub/c.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    from ..a import X\nelse:\n    import json\n"
                "class K:\n    def m(self):\n        from ..b import f\n"
                "thing = 1\n"
            ),
            "pkg/sub/d.py": "import pkg.sub.c as c\nfrom pkg import a, missing\nfrom .. import *\n",
        },
    )
    graph, where = build_graph(walk_modules(tmp_path / "pkg", tmp_path))
    assert graph == {
        "pkg": set(),
        "pkg.a": {"pkg", "pkg.b", "pkg.sub.c"},  # `from . import b` runs pkg/__init__ first
        "pkg.b": {"pkg.sub", "pkg.sub.c"},
        "pkg.sub": {"pkg.sub.c"},
        "pkg.sub.c": {"pkg.a", "pkg.b"},  # the TYPE_CHECKING import of pkg.a is an edge too
        "pkg.sub.d": {"pkg.sub.c", "pkg.a", "pkg"},
    }
    assert where[("pkg.sub.c", "pkg.b")] == [f"{tmp_path / 'pkg/sub/c.py'}:8 (K.m)"]
    assert find_cycles(graph) == [["pkg.a", "pkg.b", "pkg.sub", "pkg.sub.c"]]
    message = describe(graph, where, find_cycles(graph))
    assert "pkg.a -> pkg.sub.c -> pkg.a" in message and "c.py:3 (module)" in message


def test_a_package_importing_a_submodule_that_imports_it_is_a_cycle(tmp_path: Path) -> None:
    _write(
        tmp_path, {"pkg/__init__.py": "from . import a\n", "pkg/a.py": "from . import b\n", "pkg/b.py": ""}
    )
    graph, _where = build_graph(walk_modules(tmp_path / "pkg", tmp_path))
    assert find_cycles(graph) == [["pkg", "pkg.a"]]


def test_relative_import_resolution() -> None:
    mod = Module("dbrouter.backends.failover", Path("x.py"), False)
    pkg = Module("dbrouter.backends", Path("__init__.py"), True)
    assert _resolve_relative(mod, 1, None) == "dbrouter.backends"
    assert _resolve_relative(mod, 2, "health") == "dbrouter.health"
    assert _resolve_relative(mod, 1, "postgresql.base") == "dbrouter.backends.postgresql.base"
    assert _resolve_relative(pkg, 1, "failover") == "dbrouter.backends.failover"
    assert _resolve_relative(pkg, 2, None) == "dbrouter"
    assert _resolve_relative(mod, 3, "x") is None
    assert _resolve_relative(Module("manage", Path("manage.py"), False), 1, "x") is None
