"""How ``serve``'s metrics classify an ended action: a start failure counts
as a sandbox refusal by the exception that refused it, not by its text."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import executor.sandbox
from executor import Result
from executor.errors import ErrorKind, ExecutorError
from executor.service.metrics import SANDBOX_REFUSALS, ServiceMetrics


def _counts(result: Result) -> tuple[float, float]:
    metrics = ServiceMetrics(None)  # type: ignore[arg-type]  # the gauges are never read here
    metrics.observe(result)
    value = metrics.registry.get_sample_value
    return (
        value("action_executor_host_start_failures_total") or 0.0,
        value("action_executor_sandbox_refusals_total") or 0.0,
    )


def test_a_start_failure_the_sandbox_refused_counts_as_a_sandbox_refusal():
    refused = Result(
        error="the sandbox policy cannot be enforced on this machine ...",
        error_type=ErrorKind.HOST_START_FAILED,
        exception="SandboxUnavailable",
    )
    assert _counts(refused) == (1.0, 1.0)


def test_a_start_failure_of_another_cause_is_no_sandbox_refusal_whatever_its_text_says():
    crashed = Result(
        error="could not start an action host: the template died while setting up its sandbox",
        error_type=ErrorKind.HOST_START_FAILED,
        exception="HostStartFailed",
    )
    assert _counts(crashed) == (1.0, 0.0)


def test_every_start_refusal_of_the_sandbox_package_is_counted():
    found = set()
    for module in pkgutil.walk_packages(executor.sandbox.__path__, "executor.sandbox."):
        for _name, cls in inspect.getmembers(importlib.import_module(module.name), inspect.isclass):
            if (
                issubclass(cls, ExecutorError)
                and cls.__module__.startswith("executor.sandbox")
                and cls.kind is ErrorKind.HOST_START_FAILED
            ):
                found.add(cls.__name__)
    assert found and found <= SANDBOX_REFUSALS, found - SANDBOX_REFUSALS
