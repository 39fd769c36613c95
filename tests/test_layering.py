"""The import rules between the packages, and inside the executor, checked on the source.

Between packages (docs/architecture.md): the executor never imports action
code; actions_api and protocol import nothing of the others. Inside the
executor, the data path runs one way: environments know nothing of hosts or
runs; hosts know nothing of runs; only the CLI and the service entry point
import the service (the one place that imports oslo.messaging).
"""

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
#: executor sub-package -> executor sub-packages it must not import
FORBIDDEN_INSIDE_EXECUTOR = {
    "environments": {"hosts", "runs", "service", "cli"},
    "sandbox": {"hosts", "runs", "service", "cli"},
    "hosts": {"runs", "service", "cli"},
    "runs": {"service", "cli"},
    "service": {"hosts", "runs", "cli"},
}
OSLO_MESSAGING_USERS = {"service"}


def _imports(path: Path):
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_what_design_allows(package):
    offenders = []
    for path in sorted((ROOT / package).rglob("*.py")):
        rel = str(path.relative_to(ROOT))
        for name in _imports(path):
            top = name.split(".")[0]
            if top in PACKAGES and top != package and top not in ALLOWED[package]:
                offenders.append(f"{rel} imports {name}")
    assert offenders == []


@pytest.mark.parametrize("sub", sorted(FORBIDDEN_INSIDE_EXECUTOR))
def test_executor_subpackage_imports_follow_the_data_path(sub):
    offenders = []
    for path in sorted((ROOT / "executor" / sub).rglob("*.py")):
        rel = str(path.relative_to(ROOT))
        for name in _imports(path):
            parts = name.split(".")
            if (
                parts[0] == "executor"
                and len(parts) > 1
                and parts[1] in FORBIDDEN_INSIDE_EXECUTOR[sub]
            ):
                offenders.append(f"{rel} imports {name}")
    assert offenders == []


def test_only_the_service_imports_oslo_messaging():
    offenders = []
    for package in sorted(PACKAGES):
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT)
            inside = rel.parts[0] == "executor" and rel.parts[1] in OSLO_MESSAGING_USERS
            if not inside and any(n.startswith("oslo_messaging") for n in _imports(path)):
                offenders.append(str(rel))
    assert offenders == []
