"""Finding actions: stevedore entry points in the ``mistral.actions`` namespace.

A broken plugin never hides the others: every entry point that fails to load
is reported with its error (``--inspect`` lists it next to the working ones).
"""

from __future__ import annotations

import importlib.metadata
import inspect
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from stevedore import ExtensionManager, NamedExtensionManager

from actions_api.secrets import MASK, is_secret_name
from protocol.errors import ActionNotFound
from protocol.messages import ActionInfo, ParamSpec

NAMESPACE = "mistral.actions"
log = logging.getLogger(__name__)


@dataclass
class LoadFailure:
    name: str
    target: str
    error: str


@dataclass
class Catalog:
    """Loaded action classes by name, plus the entry points that failed."""

    classes: dict[str, type] = field(default_factory=dict)
    targets: dict[str, str] = field(default_factory=dict)
    failures: dict[str, LoadFailure] = field(default_factory=dict)


def _failure_recorder(catalog: Catalog) -> Any:
    def on_failure(_manager: Any, entry_point: Any, exc: BaseException) -> None:
        catalog.failures[entry_point.name] = LoadFailure(
            entry_point.name, entry_point.value, f"{type(exc).__name__}: {exc}"
        )

    return on_failure


def load_all() -> Catalog:
    """Import every action entry point (for ``--inspect`` and warm templates)."""
    catalog = Catalog()
    manager = ExtensionManager(
        NAMESPACE,
        invoke_on_load=False,
        on_load_failure_callback=_failure_recorder(catalog),
    )
    for ext in manager:
        catalog.classes[ext.name] = ext.plugin
        catalog.targets[ext.name] = ext.entry_point.value
    return catalog


def load_one(name: str) -> type:
    """Import only the entry point called ``name``; other plugins stay unimported."""
    catalog = Catalog()
    missing: list[str] = []
    manager = NamedExtensionManager(
        NAMESPACE,
        names=[name],
        invoke_on_load=False,
        on_load_failure_callback=_failure_recorder(catalog),
        on_missing_entrypoints_callback=missing.extend,
    )
    for ext in manager:
        return ext.plugin  # type: ignore[no-any-return]
    if name in catalog.failures:
        failure = catalog.failures[name]
        raise ImportError(f"action {name!r} ({failure.target}) failed to load: {failure.error}")
    raise ActionNotFound(
        f"no action named {name!r} in this environment (no '{NAMESPACE}' entry point of that name)"
    )


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
    return value


def describe_params(cls: type) -> tuple[list[ParamSpec], bool]:
    """Parameters are ``__init__``'s keyword arguments (as in mistral-lib)."""
    init = cls.__init__  # type: ignore[misc]
    if init is object.__init__:
        return [], False
    params: list[ParamSpec] = []
    accepts_any = False
    for p in list(inspect.signature(init).parameters.values())[1:]:
        if p.kind is p.VAR_KEYWORD:
            accepts_any = True
        elif p.kind is p.VAR_POSITIONAL:
            continue
        elif p.default is p.empty:
            params.append(ParamSpec(name=p.name, required=True))
        else:
            default = _jsonable(p.default)
            if is_secret_name(p.name) and default is not None:
                default = MASK
            params.append(ParamSpec(name=p.name, required=False, default=default))
    return params, accepts_any


def _first_line(doc: str | None) -> str:
    return (inspect.cleandoc(doc).splitlines() or [""])[0] if doc else ""


def _is_sync(cls: type) -> bool | None:
    try:
        obj = cls.__new__(cls)
        return bool(obj.is_sync())
    except Exception:
        return None


def _distributions() -> dict[tuple[str, str], tuple[str, str]]:
    """(entry point name, target) -> (distribution, version)."""
    found = {}
    for ep in importlib.metadata.entry_points(group=NAMESPACE):
        dist = getattr(ep, "dist", None)
        if dist is not None:
            found[(ep.name, ep.value)] = (dist.metadata["Name"], dist.version)
    return found


def describe(catalog: Catalog) -> list[ActionInfo]:
    """One ActionInfo per entry point, broken ones included, sorted by name."""
    dists = _distributions()
    infos = []
    for name, cls in catalog.classes.items():
        target = catalog.targets[name]
        dist, version = dists.get((name, target), (None, None))
        params, accepts_any = describe_params(cls)
        infos.append(
            ActionInfo(
                name=name,
                class_path=f"{cls.__module__}.{cls.__qualname__}",
                module=cls.__module__,
                distribution=dist,
                version=version,
                params=params,
                accepts_any_params=accepts_any,
                description=_first_line(cls.__doc__),
                is_sync=_is_sync(cls),
            )
        )
    for name, failure in catalog.failures.items():
        dist, version = dists.get((name, failure.target), (None, None))
        module = failure.target.split(":")[0]
        infos.append(
            ActionInfo(
                name=name,
                class_path=failure.target.replace(":", "."),
                module=module,
                distribution=dist,
                version=version,
                error=failure.error,
            )
        )
    return sorted(infos, key=lambda info: info.name)
