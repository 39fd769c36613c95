"""Through ``serve``: Mistral's engine runs mistral-extra's nova.servers_get.

The engine sends what Mistral 23 sends for a generated action (the base
class NovaAction, ``client_method_name`` as class attribute, the instance's
``_kwargs_for_run``) with the caller's credentials in the RPC context; the
result that comes back is the one Mistral's own executor sends.
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent))

from harness import ServiceProcess
from mistral_extra_support import extra_state, mistral_results, reference_python
from openstack_standins import TOKEN, USER

from executor.service import wire

NOVA = "mistral_extra.actions.openstack.actions.NovaAction"


def _rpc_ctx(cloud) -> dict:
    security = cloud.security_context()
    catalog = security["service_catalog"]["token"]  # keystonemiddleware's token body
    return {**security, "service_catalog": catalog, "user": USER, "is_trust_scoped": False}


@pytest.fixture(scope="module")
def reference():
    return reference_python()


@pytest.fixture(scope="module")
def service(broker, services_dir, reference):
    """An executor whose state holds the environment ``extra`` (mistral-extra)."""
    host = f"extra-{uuid.uuid4().hex[:6]}"
    sections = {
        "action_executor": {"state_dir": extra_state(reference)},
        "sandbox": {"network": "host"},  # the stand-ins listen on 127.0.0.1
    }
    service = ServiceProcess(broker, services_dir / host, host, sections=sections).start()
    yield service
    service.stop()


def _nova(method: str, **params: str) -> wire.DecodedAction:
    # vars() of the object Mistral's action provider built, as its engine sends it
    data = {"_kwargs_for_run": params, "action_region": None}
    return wire.DecodedAction(NOVA, {"client_method_name": method}, data)


def test_a_generated_action_sent_by_the_engine_returns_mistrals_result(
    service, engine, cloud, reference
):
    before = len(cloud.requests)
    action = _nova("servers.get", server="vm-1")
    ex_id = engine.run_action("01", host=service.host, action=action, context=_rpc_ctx(cloud))
    done = engine.completion(ex_id, timeout=120)
    call = {"name": "nova.servers_get", "params": {"server": "vm-1"}}
    expected = mistral_results(reference, _rpc_ctx(cloud), [call])[0]["result"]
    assert done.result.error is None
    assert done.result == wire.WireResult(expected["data"], expected["error"], expected["cancel"])
    assert {token for *_, token in cloud.requests[before:]} == {TOKEN}


def test_a_missing_server_comes_back_with_mistrals_message(service, engine, cloud, reference):
    action = _nova("servers.get", server="vm-404")
    ex_id = engine.run_action("01", host=service.host, action=action, context=_rpc_ctx(cloud))
    done = engine.completion(ex_id, timeout=120)
    call = {"name": "nova.servers_get", "params": {"server": "vm-404"}}
    expected = mistral_results(reference, _rpc_ctx(cloud), [call])[0]["result"]
    assert done.call is True  # Mistral's send_error_back
    assert done.result.error.startswith(
        f"The action raised an exception [action=nova.servers_get, action_ex_id={ex_id}, msg="
    )
    assert _msg(done.result.error) == _msg(expected["error"])


def _msg(error: str) -> str:
    return error[error.index(", msg=") :]
