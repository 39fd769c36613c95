"""Length-prefixed msgpack frames carrying JSON-RPC 2.0, in both directions.

``PROTOCOL_VERSION`` changes whenever a message shape changes (a test checks
this against ``schema_history.json``); both ends refuse to talk across versions.
"""

from __future__ import annotations

PROTOCOL_VERSION = "2.1"
RUNTIME_VERSION = "0.1.0"

__all__ = ["PROTOCOL_VERSION", "RUNTIME_VERSION"]
