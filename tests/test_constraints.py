"""constraints.txt, the exact releases `make install` takes: one pin for every declared dependency, each allowed."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent


def pins(text: str) -> dict[str, Version]:
    """{canonical name: version} of a constraints file's `name==version` lines (comments and blanks skipped)."""
    out: dict[str, Version] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"not an exact pin: {line!r}"
            out[canonicalize_name(name)] = Version(version)
    return out


def declared() -> list[Requirement]:
    """Every requirement pyproject.toml declares: dependencies and all optional groups."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    groups = [project["dependencies"], *project.get("optional-dependencies", {}).values()]
    return [Requirement(r) for group in groups for r in group]


def unmet(requirements: list[Requirement], pinned: dict[str, Version]) -> list[str]:
    """The requirements the pins leave out or contradict, as messages."""
    problems = []
    for req in requirements:
        version = pinned.get(canonicalize_name(req.name))
        if version is None:
            problems.append(f"{req.name}: not pinned")
        elif not req.specifier.contains(version, prereleases=True):
            problems.append(f"{req.name}: pinned {version}, pyproject.toml wants {req.specifier}")
    return problems


def test_every_declared_dependency_is_pinned_to_a_release_it_allows() -> None:
    pinned = pins((ROOT / "constraints.txt").read_text())
    assert unmet(declared(), pinned) == [], "run `make constraints` (then `make test`) to resolve them again"
    assert pinned[canonicalize_name("torch")] == Version("2.13.0")  # any build of it: the CPU wheel is +cpu


def test_a_missing_or_contradicting_pin_is_reported() -> None:
    pinned = pins("# a comment\nnumpy==2.4.6\nfastapi==0.100.0  # too old\n")
    requirements = [Requirement(r) for r in ("numpy>=2.0", "fastapi>=0.115", "ray[data]>=2.60")]
    assert unmet(requirements, pinned) == [
        "fastapi: pinned 0.100.0, pyproject.toml wants >=0.115",
        "ray: not pinned",
    ]
    with pytest.raises(AssertionError, match="not an exact pin"):
        pins("numpy>=2\n")
