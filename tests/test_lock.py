"""requirements.lock is the tested environment: it agrees with pyproject.toml's ranges, lists no
dependency pyproject.toml dropped, carries constraints.txt's torch pins, and is what `make` installed.
A failure here means: run `make lock` (README, "Dependencies")."""
from __future__ import annotations

import re
from importlib import metadata

import tomllib
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from .conftest import ROOT

LOCK = ROOT / "requirements.lock"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)$")


def locked() -> dict[str, tuple[Version, str]]:
    """name -> (pinned version, the `# via` annotation below it)."""
    pins: dict[str, tuple[Version, str]] = {}
    name = None
    for line in LOCK.read_text().splitlines():
        if match := PIN.match(line):
            name = canonicalize_name(match[1])
            pins[name] = (Version(match[2]), "")
        elif name and line.startswith("    #"):
            pins[name] = (pins[name][0], pins[name][1] + line)
        elif line.strip() and not line.startswith("#"):
            raise AssertionError(f"requirements.lock: a line that is not a pin: {line!r}")
    return pins


def declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        lines += extra
    return [Requirement(line) for line in lines]


def test_every_declared_dependency_is_locked_inside_its_range():
    pins = locked()
    wrong = []
    for req in declared():
        name = canonicalize_name(req.name)
        if name not in pins:
            wrong.append(f"{req} is not in requirements.lock")
        elif not req.specifier.contains(pins[name][0], prereleases=True):
            wrong.append(f"pyproject.toml asks for {req}, requirements.lock pins {pins[name][0]}")
    assert not wrong, "; ".join(wrong) + " — run `make lock`"


def test_the_lock_lists_no_direct_dependency_pyproject_dropped():
    direct = {name for name, (_, via) in locked().items() if "bffkit (pyproject.toml)" in via}
    assert direct == {canonicalize_name(req.name) for req in declared()}, "run `make lock`"


def test_the_lock_carries_the_torch_pins():
    pins = locked()
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            req = Requirement(line)
            assert req.specifier.contains(pins[canonicalize_name(req.name)][0]), line


def test_the_environment_is_the_lock():
    # The tests run in what `make setup` built; a package at another version means the venv
    # was changed by hand or the lock was edited without reinstalling.
    other = {}
    for name, (version, _) in locked().items():
        try:
            installed = Version(metadata.version(name))
        except metadata.PackageNotFoundError:
            installed = None
        if installed != version:
            other[name] = (str(version), installed and str(installed))
    assert not other, f"locked vs installed: {other}"


def test_environment_yml_follows_the_lock():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    header = re.search(r"with Python (\d+\.\d+)", LOCK.read_text())[1]
    assert f"python={header}" in conda
    assert f"pip={locked()['pip'][0]}" in conda
    assert pip_section[0] == "-c requirements.lock"
