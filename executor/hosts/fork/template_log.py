"""A template's output, copied into its log file with a bound on its size.

The template runs plugin code, and what plugin code prints at import time
goes there: it must not fill the executor's disk.
"""

from __future__ import annotations

import os

#: Bytes of a template's output kept in its log (plugin code prints there).
TEMPLATE_LOG_BYTES = 16 * 1024 * 1024


def copy_log(fd: int, path: str, budget: int = TEMPLATE_LOG_BYTES) -> None:
    """A template's output into its log, at most ``budget`` bytes per template
    (the log of the previous one moves to ``.1`` when it is that large): the
    template runs plugin code, which must not fill the executor's disk."""
    try:
        if os.path.getsize(path) > budget:
            os.replace(path, path + ".1")
    except OSError:
        pass
    dropped = 0
    try:
        with open(path, "ab") as log:
            while chunk := os.read(fd, 65536):
                if budget > 0:
                    log.write(chunk[:budget])
                    if len(chunk) >= budget:
                        log.write(b"\n[template output cut here: the rest is dropped]\n")
                    log.flush()
                dropped += max(0, len(chunk) - max(budget, 0))
                budget -= len(chunk)
            if dropped:
                log.write(f"[template output cut: {dropped} bytes dropped]\n".encode())
    finally:
        os.close(fd)
