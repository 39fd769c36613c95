"""The sandbox policy as the host reads it: ``protocol.messages.SandboxSpec``
checked against the schema (``protocol.plain``) into a frozen dataclass.

Not the pydantic model itself, which a template and its children never import
(``protocol.plain`` says why); a test keeps the fields of both the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from protocol.plain import SANDBOX_SPEC


@dataclass(frozen=True)
class Spec:
    network: str
    private_filesystem: bool
    tmpfs_size: int
    pid_namespace: bool
    max_processes: int | None
    seccomp: bool
    landlock: bool
    devpts: bool
    isolated: bool
    uids: int
    tmp_exposed: tuple[str, ...]

    @classmethod
    def from_wire(cls, raw: Any) -> Spec:
        """Raises ``protocol.plain.SchemaMismatch`` for a malformed policy."""
        return cls.of(SANDBOX_SPEC(raw))

    @classmethod
    def of(cls, checked: dict[str, Any]) -> Spec:
        """From a policy already checked against the schema."""
        return cls(**{**checked, "tmp_exposed": tuple(checked["tmp_exposed"])})
