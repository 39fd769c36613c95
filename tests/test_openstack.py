"""OpenStack actions against Keystone, Nova and Cinder stand-ins on loopback."""

import pytest
from helpers import ROOT, register_source_package
from openstack_standins import PROJECT, TOKEN

from executor import Executor, ExecutorConfig
from executor.sandbox.model import SandboxPolicy

EXAMPLE = ROOT / "examples" / "openstack_actions"


@pytest.fixture(scope="module")
def os_executor(tmp_path_factory):
    paths = register_source_package(tmp_path_factory.mktemp("os-site"), EXAMPLE)
    # The Keystone/Nova/Cinder stand-ins listen on 127.0.0.1, which the default
    # "egress" policy refuses to actions (docs/security.md): these hosts use "host".
    config = ExecutorConfig(
        state_dir=str(tmp_path_factory.mktemp("os-state")),
        extra_paths=paths,
        sandbox=SandboxPolicy(network="host"),
    )
    with Executor(config) as ex:
        yield ex


def _context(cloud, **overrides):
    security = cloud.security_context()
    security.update(overrides)
    return {"security": security, "execution": {"workflow_name": "attach_wf"}}


def test_servers_get_calls_nova_with_the_callers_token(cloud, os_executor):
    result = os_executor.run(
        "example.nova.servers_get", {"server": "vm-1"}, context=_context(cloud)
    )
    assert result.is_success(), result.error
    assert result.data["name"] == "web"
    assert ("nova", "GET", "/v2.1/servers/vm-1", TOKEN) in cloud.requests


def test_servers_list_returns_every_server(cloud, os_executor):
    result = os_executor.run("example.nova.servers_list", context=_context(cloud))
    assert [s["id"] for s in result.data] == ["vm-1"]


def test_volumes_create_and_get_use_the_cinder_endpoint_with_the_project(cloud, os_executor):
    created = os_executor.run("example.cinder.volumes_create", {"size": 1}, context=_context(cloud))
    assert created.is_success(), created.error
    got = os_executor.run(
        "example.cinder.volumes_get", {"volume": created.data["id"]}, context=_context(cloud)
    )
    assert got.data["id"] == created.data["id"]
    assert any(path.startswith(f"/v3/{PROJECT}/volumes") for _, _, path, _ in cloud.requests)


def test_a_bad_token_is_an_action_error_naming_the_http_status(cloud, os_executor):
    result = os_executor.run(
        "example.nova.servers_get",
        {"server": "vm-1"},
        context=_context(cloud, auth_token="wrong-token"),
    )
    assert result.is_error()
    assert "HTTP 401" in result.error
    assert "wrong-token" not in result.error


def test_the_catalog_is_fetched_from_keystone_when_the_context_has_none(cloud, os_executor):
    result = os_executor.run(
        "example.nova.servers_get",
        {"server": "vm-1"},
        context=_context(cloud, service_catalog=None),
    )
    assert result.is_success(), result.error
    assert ("keystone", "GET", "/v3/auth/tokens", TOKEN) in cloud.requests


def test_a_missing_region_names_what_the_catalog_has(cloud, os_executor):
    result = os_executor.run(
        "example.nova.servers_list", context=_context(cloud, region_name="Mars")
    )
    assert result.is_error()
    assert "no public endpoint for service type compute in region Mars" in result.error
    assert "compute/public/RegionOne" in result.error


def test_the_composite_action_reuses_others_with_the_callers_credentials(cloud, os_executor):
    result = os_executor.run(
        "example.create_cinder_volume_and_attach_to_vm",
        {"server": "vm-1", "size": 2, "name": "data"},
        context=_context(cloud),
        timeout=60,
    )
    assert result.is_success(), result.error
    volume = result.data["volume"]
    assert result.data["attachment"]["serverId"] == "vm-1"
    assert cloud.volumes[volume]["status"] == "in-use"
    assert volume in cloud.servers["vm-1"]["volumes"]
    # Every call the nested actions made carried the caller's token.
    assert all(token == TOKEN for _, _, _, token in cloud.requests[-5:])


def test_the_composite_action_fails_cleanly_for_an_unknown_server(cloud, os_executor):
    result = os_executor.run(
        "example.create_cinder_volume_and_attach_to_vm",
        {"server": "vm-404", "size": 1},
        context=_context(cloud),
    )
    assert result.is_error()
    assert "example.nova.servers_get failed" in result.error
    assert "HTTP 404" in result.error


def test_the_examples_never_shadow_mistral_extras_names():
    names = [
        line.split("=")[0].strip()
        for line in (EXAMPLE / "setup.cfg").read_text().splitlines()
        if line.startswith("    ") and "=" in line and ":" in line
    ]
    assert len(names) == 6
    assert all(name.startswith("example.") for name in names), names
