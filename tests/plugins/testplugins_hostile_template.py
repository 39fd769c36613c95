"""A plugin that harms the template that imports it, as its settings ask.

Module-level code runs in the template when it preloads the plugin
(``preload_actions = all``); what it does comes from the environment's
variables (``ExecutorConfig.host_environ``):

* ``HOSTILE_REPORT_PID``: the template answers every fork with this pid
  instead of its child's (the executor must not move, watch or kill it);
* ``HOSTILE_ALLOCATE_MIB``: the template holds this much memory;
* ``HOSTILE_LOG_MIB``: the template writes this much to its output.
"""

import os
import sys
from typing import Any

from actions_api import Action

IN_TEMPLATE = "action_host.template" in sys.modules and os.getpid() == 1

if IN_TEMPLATE and os.environ.get("HOSTILE_REPORT_PID"):
    _victim = int(os.environ["HOSTILE_REPORT_PID"])
    _template: Any = sys.modules["action_host.template"]
    _template._global_pid_of_child = lambda local: _victim

if IN_TEMPLATE and os.environ.get("HOSTILE_ALLOCATE_MIB"):
    HELD = bytearray(int(os.environ["HOSTILE_ALLOCATE_MIB"]) * 1024 * 1024)
    for i in range(0, len(HELD), 4096):
        HELD[i] = 1

if IN_TEMPLATE and os.environ.get("HOSTILE_LOG_MIB"):
    chunk = b"x" * (1024 * 1024)
    for _ in range(int(os.environ["HOSTILE_LOG_MIB"])):
        os.write(2, chunk)


class Noop(Action):
    def run(self, context):
        return "ok"
