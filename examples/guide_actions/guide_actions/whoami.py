import threading

from actions_api import Action, context


def audit_line():
    """Helper code that was not handed the context: it asks for the current one."""
    ctx = context.current()
    return f"{ctx.security.user_name}@{ctx.security.project_name}"


class WhoAmI(Action):
    """Report who runs this action, and where in which workflow."""

    def run(self, context):
        from_thread = []
        worker = threading.Thread(target=lambda: from_thread.append(audit_line()))
        worker.start()
        worker.join()
        return {
            "user": context.security.user_name,
            "workflow": context.execution.workflow_name,
            "task_execution_id": context.execution.task_execution_id,
            "audit": from_thread[0],
        }
