"""Running one corpus case in-process and seeing what it left behind."""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

from bffkit.cli import main

from .corpus import Case

# What a user must never read as the message: a Python exception's name.
RAW_EXCEPTION = re.compile(r"\b[A-Z][A-Za-z]*(Error|Exception|Warning)\b|Traceback|\bErrno\b")


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under `folder` (relative path -> sha1; a folder maps to "dir")."""
    if not folder.exists():
        return {}
    out = {}
    for p in sorted(folder.rglob("*")):
        out[str(p.relative_to(folder))] = "dir" if p.is_dir() else hashlib.sha1(p.read_bytes()).hexdigest()
    return out


def fill(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


def prepare(case: Case, tmp: Path, template: Path, stored: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """Copy the workspace, write the case's files and damage; returns (argv, placeholder values)."""
    ws = tmp / "ws"
    shutil.copytree(template, ws)
    values = {"tmp": str(tmp), "ws": str(ws), **stored, "image": str(ws / stored["image"])}
    for rel, content in case.damage.items():
        target = ws / rel
        if content is None:
            target.unlink()
            target.mkdir()
        elif content == "@truncate":
            target.write_bytes(target.read_bytes()[: target.stat().st_size // 3])
        else:
            target.write_bytes(content)
    for name, content in case.files.items():
        path = tmp / name
        if isinstance(content, str) and content.startswith("@symlink:"):
            path.symlink_to(content.removeprefix("@symlink:"))
        elif isinstance(content, str) and content.startswith("@truncate:"):
            data = Path(fill(content.removeprefix("@truncate:"), values)).read_bytes()
            path.write_bytes(data[: len(data) // 2])
        else:
            path.write_bytes(fill(content, values).encode() if isinstance(content, str) else content)
    return [fill(a, values) for a in case.argv], values


def run_case(case: Case, tmp: Path, template: Path, stored: dict[str, str], capsys, monkeypatch):
    """(exit code, stdout, stderr, workspace before, workspace after, expected text) of one case."""
    argv, values = prepare(case, tmp, template, stored)
    for key, value in case.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp)
    before = snapshot(tmp / "ws")
    capsys.readouterr()
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err, before, snapshot(tmp / "ws"), fill(case.match, values)


def workspace_changes(before: dict, after: dict) -> list[str]:
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
