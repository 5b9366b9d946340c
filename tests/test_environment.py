"""The three descriptions of the environment agree: pyproject.toml, environment.yml, requirements.lock.

pyproject.toml is the reference. environment.yml (conda) must list the same
packages with the same version bounds, and the package itself in its pip
section; requirements.lock must pin every dependency to a version its bound
admits.
"""

import re
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]

#: PyPI name -> conda-forge name, where they differ.
CONDA_NAMES: dict[str, str] = {}


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def _pyproject_requirements():
    project = _pyproject()
    declared = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        declared.extend(extra)
    requirements = {}
    for text in declared:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        requirements[CONDA_NAMES.get(name, name)] = requirement.specifier
    return requirements


def _conda_environment():
    return yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))


def _conda_requirements():
    """Conda dependencies as {name: SpecifierSet}, with the pip section apart."""
    conda, pip_section = {}, None
    for entry in _conda_environment()["dependencies"]:
        if isinstance(entry, dict):
            pip_section = entry["pip"]
            continue
        match = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*(.*)", entry)
        conda[canonicalize_name(match[1])] = SpecifierSet(match[2].replace(" ", ""))
    return conda, pip_section


def _lock():
    pins = {}
    for line in (ROOT / "requirements.lock").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version
    return pins


def test_conda_environment_lists_the_pyproject_dependencies():
    conda, _ = _conda_requirements()
    conda.pop("python")
    conda.pop("pip")
    assert conda == _pyproject_requirements()


def test_conda_environment_installs_the_package_itself_with_pip():
    _, pip_section = _conda_requirements()
    assert pip_section == ["-e ."]


def test_conda_python_matches_requires_python():
    conda, _ = _conda_requirements()
    assert conda["python"] == SpecifierSet(_pyproject()["requires-python"])


def test_lock_pins_every_dependency_within_its_bounds():
    pins = _lock()
    for name, specifier in _pyproject_requirements().items():
        assert name in pins, f"{name} is not pinned in requirements.lock"
        assert pins[name] in specifier, f"{name}=={pins[name]} is outside {specifier}"


def test_lock_pins_exact_versions_only():
    for line in (ROOT / "requirements.lock").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            assert re.fullmatch(r"[A-Za-z0-9_.\-]+==[A-Za-z0-9_.+!\-]+", line.strip()), line


def test_the_report_build_stack_is_capped_below_its_next_major_version():
    # the build relies on these libraries' behaviour (kernel start, template
    # blocks, preprocessors): a new major version must be tested before use
    requirements = _pyproject_requirements()
    for name in ("papermill", "nbconvert", "nbclient", "jupyter-client"):
        caps = [spec for spec in requirements[name] if spec.operator == "<"]
        assert caps, f"{name} has no upper bound in pyproject.toml"
        lock = _lock()[name]
        assert lock in requirements[name], (name, lock)
