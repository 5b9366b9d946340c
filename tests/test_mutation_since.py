"""``make mutation SINCE=<commit>`` selects the functions whose code changed (tests/mutation_since.py)."""

from __future__ import annotations

import textwrap

from mutmut.mutation.trampoline_templates import mangle_function_name

from tests.mutation_since import changed_functions, function_trees, mutated_files

OLD = textwrap.dedent('''
    def kept(x):
        """Doc."""
        return x + 1

    def edited(x):
        return x + 1

    class Engine:
        def weights(self):
            return 1

        def size(self):
            return 2
''')


def test_a_change_of_code_counts_and_a_change_of_docstring_does_not():
    new = (OLD.replace('"""Doc."""', '"""Another doc, longer."""')
              .replace("return x + 1\n\nclass", "return x - 1\n\nclass")
              .replace("return 2", "return 3")
           + "\ndef added():\n    return 0\n")
    assert changed_functions(OLD, new) == ["x_edited", "xǁEngineǁsize", "x_added"]
    assert changed_functions(OLD, OLD) == []
    assert changed_functions(None, OLD) == ["x_kept", "x_edited", "xǁEngineǁweights", "xǁEngineǁsize"]


def test_a_docstring_removed_or_a_decorator_added_is_seen():
    assert changed_functions(OLD, OLD.replace('    """Doc."""\n', "")) == []
    assert changed_functions(OLD, OLD.replace("    def size", "    @property\n    def size")) == ["xǁEngineǁsize"]


def test_names_are_mutmut_s():
    names = list(function_trees(OLD))
    assert names == [mangle_function_name(name="kept", class_name=None),
                     mangle_function_name(name="edited", class_name=None),
                     mangle_function_name(name="weights", class_name="Engine"),
                     mangle_function_name(name="size", class_name="Engine")]


def test_the_files_are_those_mutmut_mutates():
    files = mutated_files()
    assert "src/ramlab/tables/significance.py" in files
    assert "src/ramlab/weighting/_weighting.py" in files
    assert "src/ramlab/design/_base.py" in files
    assert not any(f.startswith(("src/ramlab/io/", "src/ramlab/reports/")) or f == "src/ramlab/tables/_banner.py"
                   for f in files)
