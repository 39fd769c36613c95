"""Actions written against the real mistral-lib run unchanged.

mistral-lib comes from the package registry, installed once into a cached
environment (reused while the runtime and the plugin are unchanged; uv's
cache keeps rebuilds offline-fast).
"""

import hashlib
import os
from pathlib import Path

import pytest
from helpers import HERE, cache_lock, installed_version

from executor import Executor, ExecutorConfig
from executor.environments.wheels import build_runtime_wheel, build_wheel

MISTRAL_LIB = "mistral-lib==3.6.0"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mistral-action-host-tests"


@pytest.fixture(scope="module")
def ml_executor():
    with cache_lock("state"):
        executor = _fresh_executor()
    yield executor
    executor.close()


def _fresh_executor() -> Executor:
    state = CACHE / "state"
    wheels = CACHE / "wheels"
    source = (HERE / "plugins" / "ml_plugin.py").read_bytes()
    plugin_version = f"1.0+{hashlib.sha256(source).hexdigest()[:10]}"
    plugin = build_wheel(
        str(wheels),
        "ml-plugin",
        plugin_version,
        {"ml_plugin.py": source},
        requires=[MISTRAL_LIB],
        entry_points={
            "mistral.actions": {
                "ml.echo": "ml_plugin:Echo",
                "ml.context": "ml_plugin:ContextReport",
                "ml.fail": "ml_plugin:Fail",
                "ml.raise": "ml_plugin:Raise",
                "ml.async": "ml_plugin:Async",
            }
        },
    )
    runtime_version = os.path.basename(build_runtime_wheel(str(wheels))).split("-")[1]
    executor = Executor(ExecutorConfig(state_dir=str(state)))
    env = executor.store.environment("mistral-lib")
    fresh = (
        os.path.exists(env.python)
        and installed_version(env.python, "mistral-action-host") == runtime_version
        and installed_version(env.python, "ml-plugin") == plugin_version
    )
    if not fresh:
        if "mistral-lib" in executor.store.names():
            executor.store.remove("mistral-lib")
        executor.install("mistral-lib", [MISTRAL_LIB, plugin])
    return executor


def test_a_mistral_lib_action_runs_and_its_result_converts(ml_executor):
    result = ml_executor.run("ml.echo", {"output": {"x": 1}})
    assert result.is_success(), result.error
    assert result.data == {"x": 1}


def test_a_mistral_lib_action_gets_a_mistral_lib_context_with_the_same_fields(ml_executor):
    context = {
        "security": {"project_id": "p9", "auth_token": "tok"},
        "execution": {"workflow_execution_id": "wf-1", "task_execution_id": "t-2"},
    }
    result = ml_executor.run("ml.context", context=context)
    assert result.data == {
        "context_class": "mistral_lib.actions.context.ActionContext",
        "project_id": "p9",
        "auth_token": "tok",
        "workflow_execution_id": "wf-1",
        "task_execution_id": "t-2",
        "flat_project_id": "p9",
        "flat_warned": True,
    }


def test_a_mistral_lib_error_result_is_an_error(ml_executor):
    result = ml_executor.run("ml.fail")
    assert result.is_error()
    assert result.error == "ml failed"


def test_a_mistral_lib_exception_fails_the_action_with_its_message(ml_executor):
    result = ml_executor.run("ml.raise")
    assert result.is_error()
    assert result.error == "ActionException: ml boom"
    assert result.error_type == "ActionRaised"
    assert result.exception == "mistral_lib.exceptions.ActionException"


def test_mistral_lib_async_actions_are_reported_async(ml_executor):
    assert ml_executor.run("ml.async").is_sync is False


def test_dry_run_of_a_mistral_lib_action_without_test_describes_it(ml_executor):
    result = ml_executor.run("ml.echo", {"output": "x"}, dry_run=True)
    assert result.data["dry_run"] is True
    assert result.data["action"] == "ml_plugin.Echo"
