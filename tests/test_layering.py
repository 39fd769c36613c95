"""DESIGN.md's import rules between the packages, checked on the source."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {"protocol", "action_host", "actions_api", "executor", "std_actions"}
ALLOWED = {
    "protocol": set(),
    "actions_api": set(),
    "action_host": {"protocol", "actions_api"},
    "executor": {"protocol"},
    "std_actions": {"actions_api"},
}


def _imports(path: Path):
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0]


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_what_design_allows(package):
    offenders = []
    for path in sorted((ROOT / package).rglob("*.py")):
        rel = str(path.relative_to(ROOT))
        for name in _imports(path):
            if name in PACKAGES and name != package and name not in ALLOWED[package]:
                offenders.append(f"{rel} imports {name}")
    assert offenders == []
