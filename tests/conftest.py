from __future__ import annotations

import os
from pathlib import Path

import pytest

from bffkit.cli import main
from bffkit.taxonomy import load_taxonomy

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"
TINY = ROOT / "data" / "configs" / "tiny.yaml"
DEMO = ROOT / "data" / "configs" / "demo.yaml"

# Tests never reach a real API, whatever the developer's shell holds.
os.environ.pop("OPENAI_API_KEY", None)


@pytest.fixture(scope="session")
def tax():
    return load_taxonomy()


@pytest.fixture
def workspace(tmp_path) -> Path:
    return tmp_path / "ws"


@pytest.fixture
def cli(capsys):
    """Run the CLI in-process: returns (exit code, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return run
