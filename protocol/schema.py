"""The JSON Schema of every protocol message, generated from the models.

``python -m protocol.schema --write`` regenerates ``protocol/schema.json`` and
records its hash for the current ``PROTOCOL_VERSION`` in
``protocol/schema_history.json``. It refuses when the shapes changed but the
version did not: bump ``PROTOCOL_VERSION`` first. Tests check both files.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from typing import Any

from . import PROTOCOL_VERSION
from .methods import ALL_METHODS

HERE = os.path.dirname(__file__)
SCHEMA_PATH = os.path.join(HERE, "schema.json")
HISTORY_PATH = os.path.join(HERE, "schema_history.json")


def build_schema() -> dict[str, Any]:
    methods: dict[str, Any] = {}
    for spec in ALL_METHODS:
        key = f"{spec.direction}:{spec.name}"
        methods[key] = {
            "doc": spec.doc,
            "params": spec.params.model_json_schema(),
            "result": spec.result.model_json_schema() if spec.result else None,
        }
    return {"protocol_version": PROTOCOL_VERSION, "methods": methods}


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=1, sort_keys=True) + "\n"


def shapes_hash(schema: dict[str, Any]) -> str:
    body = {k: v for k, v in schema.items() if k != "protocol_version"}
    return hashlib.sha256(render(body).encode()).hexdigest()


def load_history() -> dict[str, str]:
    try:
        with open(HISTORY_PATH, encoding="utf-8") as f:
            history: dict[str, str] = json.load(f)
            return history
    except FileNotFoundError:
        return {}


def write() -> int:
    schema = build_schema()
    digest = shapes_hash(schema)
    history = load_history()
    recorded = history.get(PROTOCOL_VERSION)
    if recorded is not None and recorded != digest:
        print(
            f"the message shapes changed but PROTOCOL_VERSION is still {PROTOCOL_VERSION}; "
            "bump it in protocol/__init__.py and run this again",
            file=sys.stderr,
        )
        return 1
    history[PROTOCOL_VERSION] = digest
    with open(SCHEMA_PATH, "w", encoding="utf-8") as f:
        f.write(render(schema))
    with open(HISTORY_PATH, "w", encoding="utf-8") as f:
        f.write(json.dumps(history, indent=1, sort_keys=True) + "\n")
    print(f"wrote {SCHEMA_PATH} for protocol {PROTOCOL_VERSION}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="regenerate schema.json")
    args = parser.parse_args()
    if args.write:
        return write()
    sys.stdout.write(render(build_schema()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
