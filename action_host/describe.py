"""What ``action-host --inspect`` and ``actions.list`` say about each action.

Apart from ``discovery`` (which loads) because describing builds the
protocol's pydantic models, which a template and its children never import:
the request path of a forked child stays plain dicts (see ``protocol.plain``).
"""

from __future__ import annotations

import inspect
import json
from typing import Any

from actions_api.secrets import MASK, is_secret_name
from protocol.messages import ActionInfo, ParamSpec

from .discovery import Candidate, Catalog


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
    return value


def _is_jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def _param(name: str, default: Any, required: bool) -> ParamSpec:
    if required:
        return ParamSpec(name=name, required=True)
    default = _jsonable(default)
    if is_secret_name(name) and default is not None:
        default = MASK
    return ParamSpec(name=name, required=False, default=default)


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
        else:
            params.append(_param(p.name, p.default, p.default is p.empty))
    return params, accepts_any


def _split_top_level(text: str) -> list[str]:
    parts, depth, quote, current = [], 0, "", []
    for char in text:
        if quote:
            current.append(char)
            if char == quote:
                quote = ""
            continue
        if char in "\"'":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    if "".join(current).strip():
        parts.append("".join(current).strip())
    return parts


def parse_arg_list(arg_list: str) -> tuple[list[ParamSpec], bool]:
    """Parameters from a mistral-lib ``arg_list`` string: ``a, b=1, **kwargs``
    (defaults are JSON, as ``get_arg_list_as_str`` writes them)."""
    params: list[ParamSpec] = []
    accepts_any = False
    for part in _split_top_level(arg_list):
        if part.startswith("**"):
            accepts_any = True
            continue
        if part.startswith("*"):
            continue
        name, sep, raw = part.partition("=")
        name = name.strip()
        if not sep:
            params.append(_param(name, None, True))
            continue
        try:
            default = json.loads(raw.strip())
        except ValueError:
            default = raw.strip()
        params.append(_param(name, default, False))
    return params, accepts_any


def _first_line(doc: str | None) -> str:
    return (inspect.cleandoc(doc).splitlines() or [""])[0] if doc else ""


def _is_sync(cls: type) -> bool | None:
    try:
        obj: Any = object.__new__(cls)
        return bool(obj.is_sync())
    except Exception:
        return None


def _info(candidate: Candidate, shadowed: list[Candidate]) -> ActionInfo:
    losers = [c.label() + (f": broken, {c.error}" if c.error else "") for c in shadowed]
    common: dict[str, Any] = {
        "name": candidate.name,
        "distribution": candidate.distribution,
        "version": candidate.version,
        "source": candidate.source,
        "target": candidate.target,
        "shadowed": losers,
    }
    cls = candidate.cls
    if cls is None:
        module = candidate.target.split(":")[0].split(" ")[0]
        return ActionInfo(
            class_path=candidate.target.split(" ")[0].replace(":", "."),
            module=module,
            error=candidate.error,
            **common,
        )
    if candidate.base is not None:  # generated: named by its base class + attributes
        base = candidate.base
        # As Mistral's GeneratedPythonActionDescriptor: an empty arg_list or
        # description falls back to the base class's (``**kwargs``; its docstring).
        if candidate.arg_list:
            params, accepts_any = parse_arg_list(candidate.arg_list)
        else:
            params, accepts_any = describe_params(base)
        return ActionInfo(
            class_path=f"{base.__module__}.{base.__qualname__}",
            module=base.__module__,
            class_attrs={k: v for k, v in candidate.class_attrs.items() if _is_jsonable(v)},
            params=params,
            accepts_any_params=accepts_any,
            description=_first_line(candidate.description or inspect.getdoc(base)),
            is_sync=_is_sync(cls),
            **common,
        )
    params, accepts_any = describe_params(cls)
    return ActionInfo(
        class_path=f"{cls.__module__}.{cls.__qualname__}",
        module=cls.__module__,
        params=params,
        accepts_any_params=accepts_any,
        description=_first_line(cls.__doc__),
        is_sync=_is_sync(cls),
        **common,
    )


def describe(catalog: Catalog) -> list[ActionInfo]:
    """One ActionInfo per name (its winner), broken ones included, sorted by name."""
    infos = []
    for name, winner in catalog.winners.items():
        infos.append(_info(winner, catalog.shadowed.get(name, [])))
    for name, failure in catalog.failures.items():  # catalogs built by hand (tests)
        if name not in catalog.winners:
            infos.append(
                ActionInfo(
                    name=name,
                    class_path=failure.target.replace(":", "."),
                    module=failure.target.split(":")[0],
                    error=failure.error,
                )
            )
    return sorted(infos, key=lambda info: info.name)
