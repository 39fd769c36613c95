"""One place that turns OpenStack HTTP failures into ActionException."""

from __future__ import annotations

from typing import Any

from actions_api import ActionContext, ActionException, openstack


def call(
    context: ActionContext,
    service_type: str | tuple[str, ...],
    method: str,
    path: str,
    body: Any = None,
) -> Any:
    from keystoneauth1 import exceptions as ks_exc

    url = openstack.endpoint(context, service_type).rstrip("/") + path
    try:
        response = openstack.session(context).request(url, method, json=body)
    except ks_exc.HttpError as exc:
        raise ActionException(f"{method} {path} failed: HTTP {exc.http_status} {exc.message}")
    except ks_exc.ClientException as exc:
        raise ActionException(f"{method} {path} failed: {exc}")
    return response.json() if response.content else None
