"""std.javascript (alias std.js): evaluate a JavaScript snippet in embedded V8.

The engine is mini-racer (``py_mini_racer``), the maintained embedded V8
that Mistral also offers (``js_implementation = py_mini_racer``). The
script is the body of a function, as in Mistral: ``return`` gives the
result, and the ``context`` parameter is the global ``$``.

V8 reserves a very large virtual address range at start (about 216 GiB
with mini-racer 0.14 on x86-64, while it uses some 70 MiB of memory). A
host whose ``RLIMIT_AS`` is lower would be killed by V8 outright, so the
action checks the limit first and fails with an explanation instead.
"""

from __future__ import annotations

import json
import resource
from typing import Any

from actions_api import Action, ActionContext, ActionException

from ._deps import require

#: Address space V8 needs to start (measured ~216 GiB, mini-racer 0.14.1, x86-64),
#: with room for other builds.
REQUIRED_ADDRESS_SPACE = 256 * 1024**3


def _check_address_space() -> None:
    soft, _hard = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY and soft < REQUIRED_ADDRESS_SPACE:
        raise ActionException(
            f"std.javascript cannot start V8 under this host's address-space limit "
            f"(RLIMIT_AS {soft / 1024**3:g} GiB): V8 reserves about 216 GiB of virtual "
            f"address space (it uses far less memory). Raise the executor's "
            f"'address_space' limit to at least {REQUIRED_ADDRESS_SPACE // 1024**3} GiB "
            "or remove it for the environment that runs JavaScript actions"
        )


def program(script: str, js_context: Any) -> str:
    """The program V8 runs: ``$``, then the script as a function body.

    The result is passed back as JSON (``[value]``, so ``undefined`` becomes
    None), giving plain Python values rather than V8 object handles.
    """
    context_json = json.dumps(js_context, default=str)
    return f"var $ = {context_json};\nfunction f() {{\n{script}\n}}\nJSON.stringify([f()])"


class JavaScriptAction(Action):
    """Evaluate ``script`` as a function body with ``context`` bound to ``$``; return its value."""

    def __init__(self, script: str, context: Any = None):
        self.script = script
        # Mistral's name: "context" means the JavaScript context, not the action's.
        self.js_context = context

    def run(self, context: ActionContext) -> Any:
        mini_racer = require("py_mini_racer", "std.javascript", "mini-racer")
        _check_address_space()
        try:
            engine = mini_racer.MiniRacer()
            try:
                encoded = engine.eval(program(self.script, getattr(self, "js_context", None)))
            finally:
                engine.close()
        except Exception as exc:
            raise ActionException(f"JavaScriptAction failed: {exc}")
        if not isinstance(encoded, str):
            return None
        return json.loads(encoded)[0]
