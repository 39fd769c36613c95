"""Which values are secrets, and how they are masked.

(The executor applies the same rule, from ``protocol.redaction``; a test
keeps the two patterns identical.)

A parameter is secret when its name says so (``password``, ``token``,
``secret``, ``private_key``, ...); in contexts, ``auth_token``,
``trust_id`` and ``service_catalog`` are. Masked values show as ``***`` in
reprs, dry-run descriptions, ``--inspect`` output and the executor's logs.
"""

from __future__ import annotations

import re
from typing import Any

MASK = "***"
_SECRET_NAME = re.compile(
    r"(pass(word|wd|phrase)|secret|token|private_?key|credential|api_?key|^auth$"
    r"|authorization|cookies?$)",
    re.I,
)


def is_secret_name(name: str) -> bool:
    return bool(_SECRET_NAME.search(name))


def mask(value: Any, key: str = "") -> Any:
    """A copy of ``value`` with secret-named entries (at any depth) masked."""
    if key and is_secret_name(key) and value is not None:
        return MASK
    if isinstance(value, dict):
        return {k: mask(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask(v) for v in value]
    return value
