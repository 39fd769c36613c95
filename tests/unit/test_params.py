"""A request's parameters checked against the action's signature before any host starts
(executor.environments.params.check_params)."""

from __future__ import annotations

from executor.environments.params import check_params
from protocol.messages import ActionInfo, ParamSpec


def _info(*params: ParamSpec, accepts_any: bool = False) -> ActionInfo:
    return ActionInfo(
        name="std.echo",
        class_path="std_actions.basic.EchoAction",
        module="std_actions.basic",
        params=list(params),
        accepts_any_params=accepts_any,
    )


OUTPUT = ParamSpec(name="output", required=True)
DELAY = ParamSpec(name="delay", required=False, default=0)


def test_parameters_that_fit_the_signature_pass():
    assert check_params(_info(OUTPUT, DELAY), {"output": "hi"}) is None
    assert check_params(_info(OUTPUT, DELAY), {"output": "hi", "delay": 1}) is None


def test_a_missing_required_parameter_is_named_with_the_signature():
    message = check_params(_info(OUTPUT, DELAY), {"delay": 1})
    assert message == (
        "invalid input for action 'std.echo': missing required parameter(s): output "
        "(std.echo takes: output, delay=0)"
    )


def test_unexpected_parameters_are_named_in_sorted_order():
    message = check_params(_info(OUTPUT), {"output": "x", "zeta": 1, "alpha": 2})
    assert message is not None
    assert "unexpected parameter(s): alpha, zeta" in message


def test_missing_and_unexpected_parameters_are_reported_together():
    message = check_params(_info(OUTPUT), {"outptu": "x"})
    assert message is not None
    assert "missing required parameter(s): output; unexpected parameter(s): outptu" in message


def test_an_action_taking_kwargs_accepts_any_extra_parameter():
    info = _info(OUTPUT, accepts_any=True)
    assert check_params(info, {"output": "x", "anything": 1}) is None


def test_an_action_taking_kwargs_still_needs_its_required_parameters():
    message = check_params(_info(OUTPUT, accepts_any=True), {"anything": 1})
    assert message is not None
    assert "missing required parameter(s): output" in message
    assert "(std.echo takes: output, **kwargs)" in message


def test_an_action_without_parameters_says_so_when_given_some():
    message = check_params(_info(), {"output": "x"})
    assert message is not None
    assert message.endswith("(std.echo takes: no parameters)")


def test_the_signature_in_the_message_shows_defaults_as_a_user_writes_them():
    mode = ParamSpec(name="mode", required=False, default="fast")
    message = check_params(_info(OUTPUT, mode), {})
    assert message is not None
    assert message.endswith('(std.echo takes: output, mode="fast")')
