"""The public API's own behaviour, without a host."""

import datetime
import warnings

import pytest

from actions_api import Action, ActionContext, ActionException, Result, SecurityContext
from actions_api import context as api_context
from actions_api.context import ExecutionContext
from actions_api.exceptions import SerializationError
from actions_api.serialization import (
    from_wire,
    register_serializer,
    to_wire,
    unregister_serializer,
)


def test_result_predicates_follow_mistral_lib():
    assert Result().is_success()
    assert Result(error="e").is_error()
    assert Result(error="e", cancel=True).is_cancel()
    assert not Result(error="e", cancel=True).is_error()


def test_result_to_dict_is_what_mistral_stores():
    assert Result(data=1).to_dict() == {"result": 1}
    assert Result(error="bad").to_dict() == {"result": "bad"}


def test_results_compare_by_value():
    assert Result(1, None) == Result(1)
    assert Result(1) != Result(2)


def test_action_is_abstract_until_run_is_defined():
    with pytest.raises(TypeError):
        Action()


def test_action_defaults_are_sync_and_a_descriptive_test():
    class Greet(Action):
        def __init__(self, name):
            self.name = name

        def run(self, context):
            return f"hi {self.name}"

    action = Greet("ann")
    assert action.is_sync() is True
    assert action.test(ActionContext())["would_run_with"] == {"name": "ann"}


def test_action_exception_message_is_shown_as_is():
    assert str(ActionException("disk full")) == "disk full"
    assert str(ActionException()) == "Failed to process an action"


def test_security_context_repr_masks_secrets():
    ctx = SecurityContext(auth_token="very-secret", project_id="p")
    assert "very-secret" not in repr(ctx)
    assert "project_id='p'" in repr(ctx)


def test_execution_context_task_id_is_a_deprecated_alias():
    ctx = ExecutionContext(task_execution_id="t")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert ctx.task_id == "t"
    assert caught[0].category is DeprecationWarning


def test_current_context_outside_an_action_is_a_clear_error():
    api_context.activate(None)
    with pytest.raises(LookupError, match="only inside an action run"):
        api_context.current()


def test_current_context_is_visible_from_threads_the_action_starts():
    import threading

    ctx = ActionContext(execution=ExecutionContext(workflow_name="wf"))
    api_context.activate(ctx)
    seen = []
    thread = threading.Thread(target=lambda: seen.append(api_context.current()))
    thread.start()
    thread.join()
    api_context.activate(None)
    assert seen == [ctx]


def test_plain_values_pass_through_serialization():
    value = {
        "a": [1, 2.5, "x", None, True, b"\x00"],
        "t": (1, 2),
        "d": datetime.datetime(2026, 1, 1),
    }
    assert to_wire(value) == {
        "a": [1, 2.5, "x", None, True, b"\x00"],
        "t": [1, 2],
        "d": value["d"],
    }


def test_a_nested_result_round_trips():
    wire = to_wire({"inner": Result(data=1, error=None)})
    assert from_wire(wire) == {"inner": Result(data=1)}


def test_an_unsupported_type_names_its_path():
    with pytest.raises(SerializationError, match=r"builtins.set at \$.a\[1\]"):
        to_wire({"a": [1, {1, 2}]})


def test_non_string_keys_are_refused():
    with pytest.raises(SerializationError, match="only string keys"):
        to_wire({1: "a"})


def test_registered_serializers_carry_custom_types():
    class Money:
        def __init__(self, cents):
            self.cents = cents

    register_serializer(Money, "tests.Money", to_data=lambda m: m.cents, from_data=Money)
    try:
        wire = to_wire([Money(5)])
        assert wire == [{"__serial_key": "tests.Money", "__serial_data": 5}]
        assert from_wire(wire)[0].cents == 5
    finally:
        unregister_serializer(Money)


def test_a_serialization_key_cannot_be_taken_twice():
    class A:
        pass

    class B:
        pass

    register_serializer(A, "tests.dup", to_data=str, from_data=str)
    try:
        with pytest.raises(ValueError, match="already registered"):
            register_serializer(B, "tests.dup", to_data=str, from_data=str)
    finally:
        unregister_serializer(A)


def test_reuse_helpers_accept_a_parameter_called_name():
    from actions_api import utils

    ref = utils.get_action("cinder.volumes_create", name="data", size=1)
    assert ref.name == "cinder.volumes_create"
    assert ref.params == {"name": "data", "size": 1}


def test_reuse_outside_an_action_is_a_clear_error():
    from actions_api import utils

    with pytest.raises(RuntimeError, match="only run actions from inside an action"):
        utils.run_action("std.echo", output="x")


def test_the_api_contexts_and_the_wire_models_have_the_same_fields():
    from dataclasses import fields

    from actions_api.context import ExecutionContext as ApiExecution
    from protocol.messages import ExecutionContextModel, SecurityContextModel

    assert [f.name for f in fields(SecurityContext)] == list(SecurityContextModel.model_fields)
    assert [f.name for f in fields(ApiExecution)] == list(ExecutionContextModel.model_fields)
