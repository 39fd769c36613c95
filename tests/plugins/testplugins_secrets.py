"""An action that looks everywhere it can for the service's secrets.

``tests/service/test_action_config.py`` runs it through ``action-executor
serve`` whose configuration holds the broker's, the database's and
Keystone's passwords: it searches ``cfg.CONF`` (every group, registered or
only parsed), its environment, the command lines and environments of every
process it can see, and every file it can open under the directories it is
given (``/etc``, ``/``, the service's state and configuration paths), and
reports where it found any of them. The needles come base64-encoded, so the
request itself (journaled by the service) never holds them as they are.
"""

import base64
import os

from actions_api import Action

#: Bytes read of one file: configuration files are small.
MAX_READ = 1024 * 1024
#: Not searched below these: kernel interfaces, devices, endless or huge.
SKIP = ("/proc", "/sys", "/dev", "/run", "/usr", "/var/cache", "/var/lib/apt", "/var/lib/dpkg")


def _conf_texts():
    """(where, text) of everything ``cfg.CONF`` holds: registered options'
    values and every parsed file's raw sections (unregistered groups too)."""
    try:
        from oslo_config import cfg
    except ImportError:
        return [("cfg.CONF", "oslo.config is not installed")]
    texts = []
    for name in cfg.CONF:
        try:
            value = cfg.CONF[name]
        except Exception as exc:  # an option whose value does not parse
            texts.append((f"cfg.CONF.{name}", repr(exc)))
            continue
        if hasattr(value, "__iter__") and not isinstance(value, (str, bytes, list, tuple)):
            for key in value:
                try:
                    texts.append((f"cfg.CONF.{name}.{key}", repr(value[key])))
                except Exception as exc:
                    texts.append((f"cfg.CONF.{name}.{key}", repr(exc)))
        else:
            texts.append((f"cfg.CONF.{name}", repr(value)))
    namespace = getattr(cfg.CONF, "_namespace", None)  # the parsed files, raw
    for sections in getattr(namespace, "_parsed", []):
        texts.append(("cfg.CONF (parsed files)", repr(sections)))
    texts.append(("cfg.CONF sections", repr(cfg.CONF.list_all_sections())))
    return texts


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read(MAX_READ).decode("latin-1")
    except OSError:
        return None


def _files(top):
    """Every regular file under ``top`` (``top`` itself if it is a file)."""
    if os.path.isfile(top):
        yield top
        return
    for root, dirs, names in os.walk(top, onerror=lambda _e: None):
        dirs[:] = [d for d in dirs if os.path.join(root, d) not in SKIP]
        if root == "/":
            dirs[:] = []  # "/" itself: its own files only; /etc is searched on its own
        for name in names:
            path = os.path.join(root, name)
            if os.path.isfile(path) and not os.path.islink(path):
                yield path


class FindSecretsAction(Action):
    """Search for ``needles`` (base64) everywhere; report where they were found."""

    def __init__(self, needles, paths, canary=None):
        # kept as given: Mistral's engine sends these instance attributes as
        # they are, without calling __init__
        self.needles = needles
        self.paths = paths
        self.canary = canary

    def run(self, context):
        needles = [base64.b64decode(n).decode() for n in self.needles]
        canary = base64.b64decode(self.canary).decode() if self.canary else None
        found, opened, denied = [], [], []

        def search(where, text):
            for needle in needles:
                if needle in text:
                    found.append(where)

        for where, text in _conf_texts():
            search(where, text)
        search("os.environ", repr(dict(os.environ)))
        for pid in [p for p in os.listdir("/proc") if p.isdigit()]:
            for part in ("cmdline", "environ"):
                text = _read(f"/proc/{pid}/{part}")
                if text is not None:
                    search(f"/proc/{pid}/{part}", text)
        for top in self.paths:
            if not os.path.exists(top):
                denied.append(top)
                continue
            for path in _files(top):
                text = _read(path)
                if text is None:
                    denied.append(path)
                    continue
                opened.append(path)
                search(path, text)
        canary_seen = bool(canary) and any(canary in text for _where, text in _conf_texts())
        return {
            "found": found,
            "opened": len(opened),
            "opened_under": sorted({p for p in self.paths if any(o.startswith(p) for o in opened)}),
            "canary_in_cfg_conf": canary_seen,
            "default_timeout": _default_timeout(),
            "uid": os.getuid(),
        }


def _default_timeout():
    """``[action_std_http] default_timeout`` as std.http reads it."""
    from std_actions import http_policy

    if not http_policy.register_options():
        return None
    from oslo_config import cfg

    return cfg.CONF.action_std_http.default_timeout
