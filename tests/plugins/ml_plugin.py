"""Actions written against mistral-lib, as they exist in the wild."""

import warnings

from mistral_lib import actions
from mistral_lib import exceptions as ml_exc


class Echo(actions.Action):
    """Echo, mistral-lib style."""

    def __init__(self, output):
        self.output = output

    def run(self, context):
        return actions.Result(data=self.output)


class ContextReport(actions.Action):
    def run(self, context):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            flat_project = context.project_id  # the deprecated flat attribute
        return {
            "context_class": f"{type(context).__module__}.{type(context).__name__}",
            "project_id": context.security.project_id,
            "auth_token": context.security.auth_token,
            "workflow_execution_id": context.execution.workflow_execution_id,
            "task_execution_id": context.execution.task_execution_id,
            "flat_project_id": flat_project,
            "flat_warned": any(w.category is DeprecationWarning for w in caught),
        }


class Fail(actions.Action):
    def run(self, context):
        return actions.Result(error="ml failed")


class Raise(actions.Action):
    def run(self, context):
        raise ml_exc.ActionException("ml boom")


class Async(actions.Action):
    def run(self, context):
        return None

    def is_sync(self):
        return False
