"""Mistral's own code path for one list of actions: run by the Python of a
virtualenv holding mistral 23 and mistral-extra 17, never by the suite's.

Reads ``{"rpc_ctx": {...}, "calls": [{"name", "params", "exec_ctx"}]}`` (or
``{"describe": true}``: every generated action's parameters and description) as
JSON on stdin; prints one JSON list: per call, the ``Result`` exactly as
Mistral's executor hands it to the engine (``DefaultExecutor.run_action``
with the legacy action provider, the request context set from the RPC
context, the result serialized by Mistral's RPC serializer), or, when
instantiating refused the parameters, that refusal.
"""

import json
import logging
import sys
import warnings


def main() -> None:
    warnings.simplefilter("ignore")
    logging.disable(logging.CRITICAL)
    request = json.load(sys.stdin)
    from mistral import (
        config,  # noqa: F401  (registers Mistral's options)
        context,
    )
    from mistral.actions import legacy
    from mistral.executors import default_executor
    from mistral_lib import serialization
    from mistral_lib.actions import types
    from oslo_config import cfg

    cfg.CONF([], project="mistral", default_config_files=[])
    serializer = serialization.get_polymorphic_serializer()
    if types.Result not in serializer.serializers.values():  # mistral.rpc registers it
        try:
            serialization.register_serializer(types.Result, types.ResultSerializer())
        except RuntimeError:
            pass
    provider = legacy.LegacyActionProvider()
    if request.get("describe"):  # every action's parameters and description
        every = {
            d.name: [d.params_spec, d.description]
            for d in provider.find_all()
            if isinstance(d, legacy.GeneratedPythonActionDescriptor)
        }
        json.dump(every, sys.stdout)
        return
    executor = default_executor.DefaultExecutor()
    out = []
    for call in request["calls"]:
        context.set_ctx(context.MistralContext.from_dict(request["rpc_ctx"]))
        desc = provider.find(call["name"])
        action = desc.instantiate(call.get("params") or {}, {})
        result = executor.run_action(
            action,
            action_ex_id=None,
            safe_rerun=False,
            exec_ctx=call.get("exec_ctx") or {},
        )
        wire = json.loads(json.loads(serializer.serialize(result))["__serial_data"])
        out.append(
            {
                "result": wire,
                "params_spec": desc.params_spec,
                "description": desc.description,
                "class": f"{desc.action_class.__module__}.{desc.action_class.__name__}",
            }
        )
        context.set_ctx(None)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
