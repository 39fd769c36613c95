"""The sandbox's view shows what an environment's editable installs point at,
read from setuptools' finder as text: never run, and never parsed with ``ast``
(CPython 3.11 shares ``ast``'s bookkeeping between threads)."""

from __future__ import annotations

import ast
import threading
from pathlib import Path

from executor.environments.model import Environment
from executor.sandbox.view import environment_paths


def _fake_venv(root: Path, finder_text: str) -> Environment:
    site = root / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    (site / "__editable___demo_1_0_finder.py").write_text(finder_text)
    (root / "bin").mkdir()
    python = root / "bin" / "python"
    python.touch()
    return Environment(name="demo", python=str(python), path=str(root))


def _sources(root: Path, *names: str) -> list[str]:
    for name in names:
        (root / name).mkdir(parents=True)
    return [str(root / name) for name in names]


def test_an_annotated_mapping_shows_its_package_folders(tmp_path: Path) -> None:
    demo, other = _sources(tmp_path / "src", "demo", "other")
    env = _fake_venv(
        tmp_path / "venv",
        f"import sys\nMAPPING: dict[str, str] = {{'demo': {demo!r}, 'x': {other!r}}}\n"
        "NAMESPACES: dict[str, list[str]] = {}\n",
    )
    paths = environment_paths(env)
    assert demo in paths and other in paths


def test_a_plain_mapping_of_older_setuptools_shows_its_package_folders(tmp_path: Path) -> None:
    (demo,) = _sources(tmp_path / "src", "demo")
    env = _fake_venv(tmp_path / "venv", f"MAPPING = {{'demo': {demo!r}}}\n")
    assert demo in environment_paths(env)


def test_a_mapping_of_many_packages_shows_them_all(tmp_path: Path) -> None:
    folders = _sources(tmp_path / "src", *(f"p{i}" for i in range(40)))
    entries = ", ".join(f"'p{i}': {f!r}" for i, f in enumerate(folders))
    env = _fake_venv(tmp_path / "venv", "MAPPING: dict[str, str] = {" + entries + "}\n")
    assert set(folders) <= set(environment_paths(env))


def test_a_mapping_that_computes_anything_is_ignored_and_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    env = _fake_venv(
        tmp_path / "venv",
        f"MAPPING = {{'demo': open({str(marker)!r}, 'w').name}}\n",
    )
    paths = environment_paths(env)
    assert not marker.exists()
    assert not any(str(marker) in p for p in paths)


def test_reading_finders_while_other_threads_parse_with_ast_never_fails(
    tmp_path: Path,
) -> None:
    folders = _sources(tmp_path / "src", *(f"p{i}" for i in range(8)))
    env = _fake_venv(
        tmp_path / "venv",
        "MAPPING: dict[str, str] = {"
        + ", ".join(f"'p{i}': {f!r}" for i, f in enumerate(folders))
        + "}\n",
    )
    source = "x = {'a': [1, (2, 3)], 'b': f(g(h(1)))}\n" * 20
    errors: list[BaseException] = []
    stop = threading.Event()

    def parse_forever() -> None:
        while not stop.is_set():
            try:
                ast.parse(source)
            except SystemError:
                pass  # the other side's race; ours must not see it

    def read_views() -> None:
        try:
            for _ in range(20):
                assert folders[-1] in environment_paths(env)
        except BaseException as e:
            errors.append(e)

    parsers = [threading.Thread(target=parse_forever) for _ in range(2)]
    readers = [threading.Thread(target=read_views) for _ in range(2)]
    for t in parsers + readers:
        t.start()
    for t in readers:
        t.join()
    stop.set()
    for t in parsers:
        t.join()
    assert errors == []
