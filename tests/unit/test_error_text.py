"""An action that fails says what went wrong, even when its exception does not.

The rule is ``actions_api.outcome.error_text``, which the host and
``actions_api.testing`` share; mistral-extra's actions wrap every failure as
``"%s.%s failed: %s" % (cls, method, exc)``, so an exception without a
message used to end in a bare ``failed: ``.
"""

from actions_api import Action, testing
from actions_api.exceptions import ActionException


class ContextNotFound(Exception):
    """Like mistral-extra's ApplicationContextNotFoundException: no message."""


class WrapsLikeMistralExtra(Action):
    def run(self, context):
        try:
            raise ContextNotFound()
        except Exception as e:
            raise ActionException(f"NovaAction.servers.list failed: {e}") from None


class WrapsWithContext(Action):
    def run(self, context):
        try:
            raise ContextNotFound()
        except Exception as e:
            raise ActionException(f"NovaAction.servers.list failed: {e}")


class Silent(Action):
    def run(self, context):
        raise ValueError()


class SilentWhileHandling(Action):
    def run(self, context):
        try:
            int("vm-1")
        except ValueError:
            raise RuntimeError()


class Speaks(Action):
    def run(self, context):
        raise ValueError("server vm-1 not found")


def test_a_message_cut_after_its_colon_names_the_exception_it_was_raised_from():
    error = testing.run(WrapsWithContext).error
    assert error.startswith("ActionException: NovaAction.servers.list failed: ")
    assert f"{__name__}.ContextNotFound" in error
    assert "no message" in error


def test_a_message_cut_after_its_colon_without_a_cause_says_there_is_no_detail():
    error = testing.run(WrapsLikeMistralExtra).error
    assert error.startswith("ActionException: NovaAction.servers.list failed: (")
    assert "traceback is in the action's log" in error


def test_an_exception_without_a_message_says_so():
    assert testing.run(Silent).error == (
        "ValueError: (no message; the traceback is in the action's log)"
    )


def test_an_exception_without_a_message_names_the_one_it_was_raised_while_handling():
    error = testing.run(SilentWhileHandling).error
    assert error.startswith("RuntimeError: (no message; raised while handling ValueError: ")
    assert "'vm-1'" in error


def test_an_exception_with_a_message_is_its_type_and_message():
    assert testing.run(Speaks).error == "ValueError: server vm-1 not found"
