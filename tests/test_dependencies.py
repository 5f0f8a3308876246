"""Dependencies are declared, bounded and locked: every package tracker imports is declared in
pyproject.toml with an upper bound on its major version, and constraints.txt (what CI and the container
install from) pins every package the install brings, each pin inside its declared range, none stale."""

from __future__ import annotations

import ast
import importlib.metadata as md
import sys
import tomllib
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
RUNTIME = [Requirement(r) for r in PYPROJECT["dependencies"]]
TEST = [Requirement(r) for r in PYPROJECT["optional-dependencies"]["test"]]
# Tools pip brings into every venv, never imported by tracker: not locked.
NOT_PINNED = {"pip", "setuptools", "wheel", "tracker"}


def pins() -> dict[str, Version]:
    out: dict[str, Version] = {}
    for n, line in enumerate((ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        assert sep, f"constraints.txt:{n}: {line!r} is not NAME==VERSION"
        key = canonicalize_name(name)
        assert key not in out, f"constraints.txt:{n}: {name} is pinned twice"
        out[key] = Version(version)
    return out


def imported_modules(folder: Path) -> dict[str, str]:
    """Top-level modules imported anywhere under `folder` (imports inside functions too) -> one file."""
    found: dict[str, str] = {}
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], str(path.relative_to(ROOT)))
    return found


def third_party(folder: Path, own: set[str]) -> dict[str, str]:
    return {m: where for m, where in imported_modules(folder).items()
            if m not in sys.stdlib_module_names and m not in own and m != "__future__"}


def distributions_of(module: str) -> set[str]:
    return {canonicalize_name(d) for d in md.packages_distributions().get(module, [])}


def test_every_package_tracker_imports_is_declared():
    declared = {canonicalize_name(r.name) for r in RUNTIME}
    missing = []
    for module, where in sorted(third_party(ROOT / "tracker", {"tracker"}).items()):
        dists = distributions_of(module)
        assert dists, f"{where} imports {module}, which no installed distribution provides"
        if not dists & declared:
            missing.append(f"{module} ({where}; from {', '.join(sorted(dists))})")
    assert not missing, f"imported by tracker but not in [project] dependencies: {missing}"


def test_tests_and_benches_import_only_declared_packages():
    declared = {canonicalize_name(r.name) for r in RUNTIME + TEST}
    own = {"tracker", "tests", "bench"}
    missing = []
    for folder in ("tests", "bench"):
        for module, where in sorted(third_party(ROOT / folder, own).items()):
            dists = distributions_of(module)
            if dists and not dists & declared:
                missing.append(f"{module} ({where})")
    assert not missing, f"imported by tests or benches but not declared (test extra): {missing}"


def test_every_declared_package_has_an_upper_bound():
    open_ended = [str(r) for r in RUNTIME + TEST
                  if not any(s.operator in ("<", "<=", "==", "~=", "===") for s in r.specifier)]
    assert not open_ended, f"declare an upper bound on the major version (e.g. <4) for: {open_ended}"


def test_sqlmodel_stays_below_0_1():
    (sqlmodel,) = [r for r in RUNTIME if canonicalize_name(r.name) == "sqlmodel"]
    assert not sqlmodel.specifier.contains("0.1.0")


def test_every_declared_package_is_pinned_inside_its_range():
    pinned = pins()
    problems = []
    for r in RUNTIME + TEST:
        version = pinned.get(canonicalize_name(r.name))
        if version is None:
            problems.append(f"{r.name} is declared but not pinned in constraints.txt")
        elif not r.specifier.contains(version, prereleases=True):
            problems.append(f"{r.name}=={version} in constraints.txt is outside pyproject's {r.specifier}")
    assert not problems, problems


def _closure(requirements: list[Requirement]) -> dict[str, str]:
    """Every distribution the install brings (dependencies of dependencies, with their extras and
    markers) -> who asked for it, read from the installed packages' metadata."""
    env = default_environment()
    seen: dict[str, str] = {}
    todo = [(r, "pyproject.toml") for r in requirements]
    while todo:
        req, by = todo.pop()
        key = canonicalize_name(req.name)
        extras = req.extras
        if key in seen and not extras:
            continue
        seen.setdefault(key, by)
        try:
            dist = md.distribution(req.name)
        except md.PackageNotFoundError:
            raise AssertionError(f"{req.name} (needed by {by}) is not installed: "
                                 "pip install -c constraints.txt -e '.[test]'") from None
        for raw in dist.requires or []:
            dep = Requirement(raw)
            wanted = [""] + sorted(extras)
            if dep.marker is not None and not any(dep.marker.evaluate({**env, "extra": e}) for e in wanted):
                continue
            todo.append((dep, req.name))
    return seen


def test_constraints_pin_exactly_what_the_install_brings():
    needed = {k: by for k, by in _closure(RUNTIME + TEST).items() if k not in NOT_PINNED}
    pinned = pins()
    unpinned = sorted(f"{k} (needed by {by})" for k, by in needed.items() if k not in pinned)
    stale = sorted(k for k in pinned if k not in needed)
    assert not unpinned, f"add these to constraints.txt (pip freeze shows their versions): {unpinned}"
    assert not stale, f"constraints.txt pins packages nothing installs any more; remove them: {stale}"


def test_ci_and_the_container_install_from_the_constraints_file():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    docker = (ROOT / "deploy" / "Dockerfile").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "-c constraints.txt -e '.[test]'" in ci
    assert "-c constraints.txt" in docker and "COPY" in docker and "constraints.txt" in docker
    assert "-c constraints.txt -e '.[test]'" in readme.split("## ", 1)[0], "the README's test command"
