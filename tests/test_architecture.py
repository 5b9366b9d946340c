"""The package's architecture, read from its source with ``ast``.

- No module uses another module's private names: no ``from x import _name``,
  no import of a ``_``-prefixed module from outside the package that holds
  it, no ``obj._attr`` (``obj`` other than ``self``/``cls``) whose attribute
  is defined by another module's class or at another module's top level.
- The statistics half (design, variance, weighting, models, tables, io,
  format, errors) imports nothing from ``ramlab.reports``; ``ramlab.reports``
  reaches the statistics through public names only (the first rule).
- No import cycle between modules (function-local imports count).
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "ramlab"

STATISTICS = ("design", "variance", "weighting", "models", "tables", "io", "format", "errors")

# Known violations of the halves being restructured at the same time as the
# statistics half. Each entry is (module, what); the engineers named remove
# them as they land their half. Nothing of design/, variance/, weighting/ or
# models.py may be listed here.
ALLOWED: set[tuple[str, str]] = set()

# Known import cycles, as a set of modules each; same rule as ALLOWED.
ALLOWED_CYCLES = []


def _private(name):
    return name.startswith("_") and not name.endswith("_")


def _module_name(path):
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules():
    out = {}
    for path in sorted(SRC.rglob("*.py")):
        out[_module_name(path)] = (path, ast.parse(path.read_text(encoding="utf-8"), str(path)))
    return out


MODULES = _modules()


def _package(module):
    """The package a module belongs to (a package's own __init__: itself)."""
    path = MODULES[module][0]
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def _resolve(importer, node):
    """Absolute module named by an ImportFrom (relative imports resolved)."""
    if node.level == 0:
        return node.module or ""
    base = _package(importer).split(".")
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(module, tree):
    """(imported module, imported name or None, line) of every ramlab import."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "ramlab":
                    yield alias.name, None, node.lineno
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, node)
            if target.split(".")[0] != "ramlab":
                continue
            for alias in node.names:
                yield target, alias.name, node.lineno


def _owned_private_names(tree):
    """Private names a module defines: top-level names, class members, self._x."""
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
        for node in ast.walk(cls):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                names.add(node.name)
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names.add(node.target.id)
            elif isinstance(node, ast.Assign):
                names.update(t.id for t in node.targets if isinstance(t, ast.Name))
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
    return {n for n in names if _private(n)}


OWNED = {m: _owned_private_names(tree) for m, (_, tree) in MODULES.items()}


def _private_module_violation(importer, target):
    """A ``_``-prefixed module imported from outside the package holding it."""
    parts = target.split(".")
    for i, part in enumerate(parts):
        if _private(part):
            holder = ".".join(parts[:i])
            if _package(importer) != holder:
                return f"imports private module {'.'.join(parts[: i + 1])}"
    return None


def _violations():
    found = set()
    for module, (path, tree) in MODULES.items():
        for target, name, _ in _imports(module, tree):
            msg = _private_module_violation(module, target)
            if msg:
                found.add((module, msg))
            if name is not None and _private(name):
                sub = f"{target}.{name}"
                if sub in MODULES:  # a private submodule: same rule as above
                    msg = _private_module_violation(module, sub)
                    if msg:
                        found.add((module, msg))
                else:
                    found.add((module, f"imports private name {name} from {target}"))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Attribute) and _private(node.attr)):
                continue
            if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                continue
            if node.attr in OWNED[module]:
                continue
            owners = sorted(m for m, names in OWNED.items() if node.attr in names)
            if owners:
                found.add((module, f"uses {node.attr} of {', '.join(owners)}"))
    return found


def test_no_cross_module_private_names():
    found = _violations()
    unexpected = sorted(found - set(ALLOWED))
    assert not unexpected, "private names used across modules:\n" + "\n".join(
        f"  {m}: {what}" for m, what in unexpected
    )


def test_allow_list_is_current():
    """An allowed violation that is gone must leave the list (it only shrinks)."""
    stale = sorted(set(ALLOWED) - _violations())
    assert not stale, f"remove from ALLOWED, fixed: {stale}"


def test_allow_list_spares_the_statistics_core():
    core = ("ramlab.design", "ramlab.variance", "ramlab.weighting", "ramlab.models")
    assert not [m for m, _ in ALLOWED if m.startswith(core)]


def _in_half(module, parts):
    rest = module.split(".")[1:]
    return bool(rest) and rest[0] in parts


def test_statistics_import_nothing_from_reports():
    bad = sorted(
        (module, target, line)
        for module, (_, tree) in MODULES.items() if _in_half(module, STATISTICS)
        for target, name, line in _imports(module, tree)
        if _in_half(target, ("reports",))
    )
    assert not bad, f"the statistics half imports ramlab.reports: {bad}"


def _graph():
    """Module -> the ramlab modules it imports (a name that is a submodule: that module)."""
    graph = {m: set() for m in MODULES}
    for module, (_, tree) in MODULES.items():
        for target, name, _ in _imports(module, tree):
            sub = f"{target}.{name}" if name else None
            dest = sub if sub in MODULES else target
            if dest in MODULES and dest != module:
                graph[module].add(dest)
    return graph


def _cycle(graph, allowed=()):
    """One import cycle as a list of modules, or None (cycles in ``allowed`` skipped)."""
    colour = dict.fromkeys(graph, 0)  # 0 new, 1 on the stack, 2 done
    stack = []

    def visit(m):
        colour[m] = 1
        stack.append(m)
        for nxt in sorted(graph[m]):
            if colour[nxt] == 1:
                cycle = stack[stack.index(nxt):]
                if set(cycle) not in allowed:
                    return cycle + [nxt]
                continue
            if colour[nxt] == 0:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        colour[m] = 2
        return None

    for m in sorted(graph):
        if colour[m] == 0:
            found = visit(m)
            if found:
                return found
    return None


def test_no_import_cycles():
    cycle = _cycle(_graph(), ALLOWED_CYCLES)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_cycle_allow_list_is_current():
    graph = _graph()
    stale = [c for c in ALLOWED_CYCLES if _cycle({m: graph[m] & c for m in c}) is None]
    assert not stale, f"remove from ALLOWED_CYCLES, fixed: {stale}"


def test_checker_sees_a_violation():
    """The walk itself: a planted private import and attribute are reported."""
    tree = ast.parse("from ramlab.weighting._weighting import _pinv_sym\nx = d._n_rows_r()\n")
    imports = list(_imports("ramlab.tables._banner", tree))
    assert _private_module_violation("ramlab.tables._banner", imports[0][0])
    assert _private(imports[0][1])
    attrs = [n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)]
    assert attrs == ["_n_rows_r"]
    assert _cycle({"a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]
