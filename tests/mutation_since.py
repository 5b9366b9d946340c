"""The mutmut names of the functions of the mutated core whose code changed since a commit.

Used by ``make mutation SINCE=<commit>``: a mutation run after a change need
only mutate the functions the change touched (their mutants' numbers change
with their code), not the whole core. A function counts as changed when its
syntax tree differs, docstrings aside (mutmut does not mutate them); a new
function counts as changed. Names follow mutmut 3: ``<module>.x_<function>``
for a function, ``<module>.xǁ<Class>ǁ<method>`` for a method.

Usage: ``python tests/mutation_since.py <commit>`` prints one mutmut glob per
line (``<name>__mutmut_*``); nothing when nothing changed.
"""

from __future__ import annotations

import ast
import copy
import subprocess
import sys
import tomllib
from fnmatch import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def function_trees(source):
    """mutmut name suffix -> syntax tree dump (docstring left out) of every function and method."""

    def dump(node):
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            node = copy.copy(node)
            node.body = body[1:]
        return ast.dump(node, include_attributes=False)

    out = {}
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            out[f"x_{node.name}"] = dump(node)
        elif isinstance(node, ast.ClassDef):
            for member in node.body:
                if isinstance(member, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    out[f"xǁ{node.name}ǁ{member.name}"] = dump(member)
    return out


def changed_functions(old_source, new_source):
    """Names (mutmut suffixes) of the functions of ``new_source`` that are new or differ in ``old_source``."""
    old = function_trees(old_source) if old_source is not None else {}
    return [name for name, tree in function_trees(new_source).items() if old.get(name) != tree]


def mutated_files(root=ROOT):
    """The source files mutmut mutates (``only_mutate`` of ``[tool.mutmut]``), relative to ``root``."""
    config = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["mutmut"]
    files = sorted(p.relative_to(root).as_posix() for p in (root / "src").rglob("*.py"))
    return [f for f in files if any(fnmatch(f, pattern) for pattern in config["only_mutate"])]


def main(argv):
    if len(argv) != 1:
        sys.exit("usage: python tests/mutation_since.py <commit>")
    commit = argv[0]
    if subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}"],
                      stdout=subprocess.DEVNULL).returncode != 0:
        sys.exit(f"mutation_since: {commit!r} is not a commit of {ROOT}")
    for path in mutated_files():
        shown = subprocess.run(["git", "-C", str(ROOT), "show", f"{commit}:{path}"],
                               capture_output=True, text=True)
        old = shown.stdout if shown.returncode == 0 else None  # a file added since
        module = path.removeprefix("src/").removesuffix(".py").replace("/", ".")
        for name in changed_functions(old, (ROOT / path).read_text()):
            print(f"{module}.{name}__mutmut_*")


if __name__ == "__main__":
    main(sys.argv[1:])
