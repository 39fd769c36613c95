"""docs/reference is built from the code by Sphinx with warnings as errors, and
names every public name: of ``actions_api``, of ``executor`` (``Executor``,
``ExecutorConfig``, ``Result``, ``ActionInstance``, ``ErrorKind``) and every
command and option of ``action-executor``."""

from __future__ import annotations

import argparse
import dataclasses
import html
import importlib
import inspect
import subprocess
from pathlib import Path

import pytest
from helpers import ROOT, venv_bin

import executor
from executor.cli import build_parser
from executor.errors import ErrorKind

pytest.importorskip("sphinx", reason="the docs extra: pip install -e '.[docs]'")

ACTIONS_API_MODULES = [
    "actions_api",
    "actions_api.action",
    "actions_api.result",
    "actions_api.context",
    "actions_api.exceptions",
    "actions_api.utils",
    "actions_api.serialization",
    "actions_api.testing",
    "actions_api.secrets",
    "actions_api.openstack",
]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("reference-html")
    proc = subprocess.run(
        [venv_bin("sphinx-build"), "-E", "-W", "--keep-going", "-q", "-b", "html", "docs", out],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return out / "reference"


def _public(module_name: str) -> list[str]:
    module = importlib.import_module(module_name)
    names = getattr(module, "__all__", None)
    if names is None:
        names = [
            name
            for name, value in vars(module).items()
            if not name.startswith("_")
            and (inspect.isclass(value) or inspect.isfunction(value))
            and value.__module__ == module_name
        ]
    return list(names)


def _members(cls: type) -> list[str]:
    names = [n for n, _ in inspect.getmembers(cls) if not n.startswith("_")]
    if dataclasses.is_dataclass(cls):
        names += [f.name for f in dataclasses.fields(cls)]
    return sorted(set(names))


def test_the_reference_builds_without_a_warning(built):
    assert (built / "index.html").exists()


def test_every_public_name_of_actions_api_is_documented(built):
    page = (built / "actions_api.html").read_text()
    missing = [
        f"{module}.{name}"
        for module in ACTIONS_API_MODULES
        for name in _public(module)
        if f'id="{module}.{name}"' not in page and f'id="actions_api.{name}"' not in page
    ]
    assert not missing


def test_every_public_name_of_the_executor_api_is_documented(built):
    page = (built / "executor.html").read_text()
    missing = [
        f"executor.{cls}.{name}"
        for cls in executor.__all__
        if cls != "ErrorKind"
        for name in [""] + _members(getattr(executor, cls))
        if f'id="executor.{cls}{"." + name if name else ""}"' not in page
    ]
    assert not missing


def test_every_error_kind_is_documented_with_its_meaning(built):
    page = html.unescape((built / "executor.html").read_text())
    for kind in ErrorKind:
        assert f'id="executor.errors.ErrorKind.{kind.name}"' in page
        assert f"<td><p>{kind.value}</p></td>" in page  # the table of meanings


def test_every_command_and_option_of_the_cli_is_documented(built):
    page = html.unescape((built / "cli.html").read_text())

    def walk(parser: argparse.ArgumentParser, path: list[str]) -> None:
        assert f"usage: {' '.join(['action-executor', *path])}" in page
        for action in parser._actions:
            for option in action.option_strings:
                assert option in page, (path, option)
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, [*path, name])

    walk(build_parser(), [])
    assert "2      the request was refused" in page or "the request was refused" in page
