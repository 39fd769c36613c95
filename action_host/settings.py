"""Operator settings for actions: oslo.config files loaded into ``cfg.CONF``.

Mistral's actions read their settings from ``oslo_config.cfg.CONF`` (for
example the ``[action_std_http]`` egress policy of std.http). The executor
passes the operator's files with ``action-host --config-file PATH``; the
host loads them here before any action module is imported, so options an
action registers later still read their values from these files.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence


class SettingsError(Exception):
    """A config file could not be loaded; the message names the file."""


def load(config_files: Sequence[str]) -> None:
    """Parse ``config_files`` into ``cfg.CONF``; nothing to do for an empty list.

    An environment without oslo.config has no action that reads it: the
    files are skipped with a notice (on stderr, the template's log).
    """
    files = [str(f) for f in config_files]
    if not files:
        return
    try:
        from oslo_config import cfg
    except ImportError:
        sys.stderr.write(
            "action-host: notice: settings for actions were given, but oslo.config is not "
            "installed in this environment, so none of its actions can read them\n"
        )
        return
    try:
        cfg.CONF(args=[], default_config_files=files, default_config_dirs=[])
    except cfg.ConfigFilesNotFoundError as exc:
        raise SettingsError(
            f"config file(s) not found or not readable: {', '.join(exc.config_files)}"
        ) from None
    except cfg.ConfigFileParseError as exc:
        raise SettingsError(
            f"config file {exc.config_file} cannot be parsed: {exc.msg}; it must be an "
            "oslo.config (INI) file"
        ) from None
    except cfg.Error as exc:
        raise SettingsError(f"config file(s) {', '.join(files)} cannot be loaded: {exc}") from None
    finally:
        _close_passed(files)


def _close_passed(files: Sequence[str]) -> None:
    """The executor passes settings as an open in-memory file (/proc/self/fd/N):
    read once, it is closed, so an action's process does not hold it."""
    for path in files:
        if path.startswith("/proc/self/fd/") and path[len("/proc/self/fd/") :].isdigit():
            try:
                os.close(int(path[len("/proc/self/fd/") :]))
            except OSError:
                pass
