"""Secret-looking names, and redaction of known secret values from text.

The executor uses this to keep tokens and passwords out of logs and error
messages. ``actions_api.secrets`` holds the same name rule for action code
(that package may not import this one); a test keeps the two identical.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

MASK = "***"
SECRET_NAME = re.compile(
    r"(pass(word|wd|phrase)|secret|token|private_?key|credential|api_?key|^auth$"
    r"|authorization|cookies?$)",
    re.I,
)
_MIN_SECRET_LENGTH = 4  # shorter values would mask ordinary words


def secret_values(params: dict[str, Any], extra: Iterable[Any] = ()) -> list[str]:
    """String values of secret-named params (at any depth), plus ``extra``."""
    found: list[str] = [v for v in extra if isinstance(v, str)]

    def walk(value: Any, key: str) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, str(k))
        elif isinstance(value, (list, tuple)):
            for v in value:
                walk(v, key)
        elif isinstance(value, str) and key and SECRET_NAME.search(key):
            found.append(value)

    walk(params, "")
    return sorted({v for v in found if len(v) >= _MIN_SECRET_LENGTH}, key=len, reverse=True)


class Redactor:
    """Replaces every known secret value in a text with ``***``."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self.secrets = [s for s in secrets if s]

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text
