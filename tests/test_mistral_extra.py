"""mistral-extra's OpenStack actions, unchanged, result for result as in Mistral.

Both sides run against one stand-in cloud on loopback (Keystone, Nova,
Glance, Neutron, Cinder, Heat: ``openstack_standins``): our executor with
mistral-extra 17 in an environment of its own, and Mistral 23's own
executor code path (``mistral_reference.py``) in a virtualenv of its own.
The stand-ins listen on 127.0.0.1, which the default "egress" policy
refuses to actions: these hosts use the "host" network policy, with the
rest of the sandbox on.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from helpers import install_plugin
from mistral_extra_support import extra_state, mistral_results, reference_python
from openstack_standins import TOKEN, USER

from executor import Executor, ExecutorConfig
from executor.executor import ActionInstance
from executor.sandbox.model import SandboxPolicy

#: The seven actions the issue names, with their parameters.
ACTIONS = {
    "nova.servers_list": {},
    "nova.servers_get": {"server": "vm-1"},
    "glance.images_list": {},
    "keystone.projects_list": {},
    "heat.stacks_list": {},
    "neutron.list_networks": {},
    "cinder.volumes_list": {},
}
MISSING = ("nova.servers_get", {"server": "vm-404"})


@pytest.fixture(scope="module")
def reference():
    return reference_python()


@pytest.fixture(scope="module")
def state(reference):
    return extra_state(reference)


def _security(cloud) -> dict[str, Any]:
    """The action's security context as our executor gets it from Mistral's engine."""
    return {**cloud.security_context(), "user_id": USER, "is_trust_scoped": False}


def _rpc_ctx(cloud) -> dict[str, Any]:
    """The same, as Mistral's RPC context (keystonemiddleware's token body as catalog)."""
    security = _security(cloud)
    return {
        **security,
        "user": USER,
        "service_catalog": security["service_catalog"]["token"],
    }


@pytest.fixture(scope="module")
def mistral(reference, cloud):
    """Mistral's results for the seven actions and the missing server, by name."""
    calls = [{"name": n, "params": p} for n, p in [*ACTIONS.items(), MISSING]]
    done = mistral_results(reference, _rpc_ctx(cloud), calls)
    return {
        **{n: r["result"] for n, r in zip(ACTIONS, done[:-1], strict=True)},
        "missing": done[-1]["result"],
    }


#: The spec's reuse case, in the default environment: mistral-extra's
#: nova.servers_get (from the environment ``extra``), then std.echo.
REUSE = """
from actions_api import Action, utils


class ServerReport(Action):
    def __init__(self, server):
        self.server = server

    def run(self, context):
        found = utils.get_action("nova.servers_get", server=self.server)
        server = found.run(raise_on_error=True).data
        echoed = utils.run_action("std.echo", output=server["name"] + " is " + server["status"])
        return {"server": server, "echo": echoed.data}


class MistralModules(Action):
    def run(self, context):
        import sys

        return sorted(m for m in sys.modules if m.split(".")[0].startswith("mistral"))
"""


@pytest.fixture(scope="module")
def ex(state, tmp_path_factory):
    site = install_plugin(
        tmp_path_factory.mktemp("reuse-site"),
        "server-report",
        "1.0",
        {"server_report": REUSE},
        {
            "report.server": "server_report:ServerReport",
            "report.mistral_modules": "server_report:MistralModules",
        },
    )
    config = ExecutorConfig(
        state_dir=str(state), extra_paths=(str(site),), sandbox=SandboxPolicy(network="host")
    )
    with Executor(config) as ex:
        yield ex


def _context(cloud, **security: Any) -> dict[str, Any]:
    return {"security": {**_security(cloud), **security}, "execution": {"workflow_name": "wf"}}


@pytest.mark.parametrize("name", list(ACTIONS))
def test_an_action_returns_what_mistrals_executor_returns(ex, cloud, mistral, name):
    result = ex.run(name, ACTIONS[name], context=_context(cloud))
    assert result.is_success(), result.error
    assert {"data": result.data, "error": None, "cancel": False} == mistral[name]


def test_a_custom_action_reuses_nova_servers_get_and_std_echo(ex, cloud, mistral):
    before = len(cloud.requests)
    result = ex.run("report.server", {"server": "vm-1"}, context=_context(cloud), timeout=60)
    assert result.is_success(), result.error
    assert result.data == {"server": mistral["nova.servers_get"]["data"], "echo": "web is ACTIVE"}
    assert {token for *_, token in cloud.requests[before:]} == {TOKEN}


def test_the_cloud_sees_the_callers_token_on_every_request(ex, cloud):
    before = len(cloud.requests)
    assert ex.run("nova.servers_get", {"server": "vm-1"}, context=_context(cloud)).is_success()
    seen = cloud.requests[before:]
    assert [path for service, _, path, _ in seen if service == "nova"][-1] == "/v2.1/servers/vm-1"
    assert {token for *_, token in seen} == {TOKEN}


def test_a_missing_server_fails_with_mistrals_text_and_its_cause(ex, cloud, mistral):
    result = ex.run(*MISSING, context=_context(cloud))
    message = "NovaAction.servers.get failed: Instance vm-404 could not be found. (HTTP 404)"
    assert f"msg='{message}'" in mistral["missing"]["error"]
    assert result.error == f"ActionException: {message}"
    assert result.exception == "mistral_extra.actions.openstack.utils.exceptions.ActionException"


def test_the_service_catalog_may_be_json_text(ex, cloud, mistral):
    catalog = json.dumps(cloud.catalog())
    result = ex.run("neutron.list_networks", context=_context(cloud, service_catalog=catalog))
    assert result.data == mistral["neutron.list_networks"]["data"]


def test_the_service_catalog_may_be_the_token_itself(ex, cloud, mistral):
    token = cloud.catalog()["token"]
    result = ex.run("neutron.list_networks", context=_context(cloud, service_catalog=token))
    assert result.data == mistral["neutron.list_networks"]["data"]


def test_without_a_catalog_it_is_fetched_from_keystone_with_the_token(ex, cloud, mistral):
    before = len(cloud.requests)
    result = ex.run("neutron.list_networks", context=_context(cloud, service_catalog=None))
    assert result.data == mistral["neutron.list_networks"]["data"]
    assert ("keystone", "GET", "/v3/auth/tokens", TOKEN) in cloud.requests[before:]


def test_mistrals_encoding_of_a_generated_action_runs_it(ex, cloud, mistral):
    # What Mistral's engine sends: the base class, the generated class's
    # attributes, and vars() of the object its action provider built.
    result = ex.run_instance(
        ActionInstance(
            class_path="mistral_extra.actions.openstack.actions.NovaAction",
            class_attrs={"client_method_name": "servers.get"},
            data={"_kwargs_for_run": {"server": "vm-1"}, "action_region": None},
        ),
        context=_context(cloud),
    )
    assert result.is_success(), result.error
    assert result.data == mistral["nova.servers_get"]["data"]


def test_the_request_context_is_gone_after_the_run(ex, cloud):
    # The next run in the same host has no stale credentials to fall back on.
    result = ex.run("nova.servers_get", {"server": "vm-1"}, context={})
    assert result.is_error()
    assert "failed: \n" not in f"{result.error}\n"
    assert TOKEN not in result.error


def test_every_action_has_mistrals_parameters_and_description(ex, reference):
    every = _describe(reference)
    ours = {info.name: info for _env, info in ex.catalog.entries() if info.source == "generator"}
    assert set(ours) == set(every)
    differ = {
        name: (ours[name].signature(), spec)
        for name, (spec, _desc) in every.items()
        if ours[name].signature() != _any_keywords(spec or "**kwargs")
    }
    assert differ == {}
    first_lines = {
        name: (ours[name].description, (desc or "").strip().splitlines()[0])
        for name, (_spec, desc) in every.items()
        if ours[name].description != (desc or "").strip().splitlines()[0]
    }
    assert first_lines == {}


def _any_keywords(spec: str) -> str:
    """Mistral keeps the name of ``**updates``; ours says ``**kwargs`` for all."""
    return re.sub(r"\*\*\w+", "**kwargs", spec)


def _describe(reference: str) -> dict[str, list[Any]]:
    import subprocess

    from mistral_extra_support import HERE

    proc = subprocess.run(
        [reference, str(HERE / "mistral_reference.py")],
        input=json.dumps({"describe": True}),
        capture_output=True,
        text=True,
        timeout=300,
        cwd="/",
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    described: dict[str, list[Any]] = json.loads(proc.stdout)
    return described


def test_an_action_with_an_empty_arg_list_takes_any_parameter(ex, cloud):
    info = next(i for _e, i in ex.catalog.entries() if i.name == "keystone.trusts_update")
    assert info.accepts_any_params


def test_after_its_first_run_a_generated_action_is_not_loaded_again(ex, cloud):
    ex.run("heat.stacks_list", context=_context(cloud))  # the template imports it after this
    later = [ex.run("heat.stacks_list", context=_context(cloud)) for _ in range(2)]
    # the template holds the class: looked up, not imported (which takes seconds)
    assert all(r.timings["load"] < 0.05 for r in later), [r.timings for r in later]
    assert all(len(r.logs) < 10 for r in later), later[-1].logs


def test_an_environment_without_mistral_extra_imports_none_of_it(ex, cloud):
    result = ex.run("report.mistral_modules", context=_context(cloud))
    assert result.data == []
