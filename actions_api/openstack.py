"""OpenStack from inside an action: a keystoneauth1 session and endpoints.

Both come from the caller's security context, so an action calls OpenStack
services as the user who runs the workflow::

    from actions_api import openstack

    def run(self, context):
        sess = openstack.session(context)
        nova = openstack.endpoint(context, "compute")
        return sess.get(f"{nova}/servers/{self.server}").json()["server"]

The session authenticates with the context's token against ``auth_uri``
(keystoneauth1 ``token_endpoint.Token``; no extra Keystone round trip),
verifies TLS with ``auth_cacert`` unless ``insecure``. Endpoints come from
the context's service catalog (the Keystone token body Mistral passes),
or, when the context has none, from Keystone itself. Requires the
``openstack`` extra (keystoneauth1) in the action's environment.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .exceptions import ActionException

if TYPE_CHECKING:
    from keystoneauth1.session import Session

    from .context import ActionContext


def _security(context: ActionContext | None) -> Any:
    if context is None:
        from .context import current

        context = current()
    return context.security


def session(context: ActionContext | None = None) -> Session:
    """A keystoneauth1 Session acting with the caller's token."""
    from keystoneauth1 import session as ks_session
    from keystoneauth1 import token_endpoint

    sec = _security(context)
    if not sec.auth_token:
        raise ActionException(
            "the security context has no auth_token: this action needs to run for an "
            "authenticated OpenStack user (pass one in the context's security part)"
        )
    verify: bool | str = False if sec.insecure else (sec.auth_cacert or True)
    auth = token_endpoint.Token(endpoint=sec.auth_uri, token=sec.auth_token)
    return ks_session.Session(auth=auth, verify=verify)


def service_catalog(context: ActionContext | None = None) -> list[dict[str, Any]]:
    """The catalog: from the context, else fetched from Keystone with the token."""
    sec = _security(context)
    catalog = sec.service_catalog
    if not catalog:
        catalog = _fetch_catalog(context)
    if isinstance(catalog, dict):
        catalog = catalog.get("token", catalog).get("catalog", catalog.get("serviceCatalog"))
    if not isinstance(catalog, list):
        raise ActionException(
            "the service catalog in the security context has an unknown shape; expected "
            "a Keystone token body ({'token': {'catalog': [...]}}) or a list of services"
        )
    return catalog


def _fetch_catalog(context: ActionContext | None) -> Any:
    sec = _security(context)
    if not sec.auth_uri:
        raise ActionException(
            "the security context has neither a service catalog nor an auth_uri to fetch one from"
        )
    sess = session(context)
    response = sess.get(
        f"{sec.auth_uri.rstrip('/')}/auth/tokens",
        headers={"X-Subject-Token": sec.auth_token},
        authenticated=True,
    )
    return response.json()


def endpoint(
    context: ActionContext | None,
    service_type: str | tuple[str, ...],
    *,
    interface: str = "public",
    region_name: str | None = None,
) -> str:
    """The URL of a service, by type (or any of several types), interface and region.

    ``region_name`` defaults to the context's; ``$(tenant_id)s`` and
    ``%(tenant_id)s`` in URLs become the context's project id.
    """
    sec = _security(context)
    types = (service_type,) if isinstance(service_type, str) else tuple(service_type)
    region = region_name or sec.region_name
    seen = []
    for service in service_catalog(context):
        if service.get("type") not in types:
            continue
        for ep in service.get("endpoints", []):
            ep_region = ep.get("region_id") or ep.get("region")
            seen.append(f"{service.get('type')}/{ep.get('interface')}/{ep_region}")
            url = ep.get("url") if ep.get("interface") == interface else ep.get(f"{interface}URL")
            if not url:
                continue
            if region and region != ep_region:
                continue
            project = sec.project_id or ""
            return str(url).replace("$(tenant_id)s", project).replace("%(tenant_id)s", project)
    raise ActionException(
        f"no {interface} endpoint for service type {' or '.join(types)}"
        f"{f' in region {region}' if region else ''} in the service catalog "
        f"(it has: {', '.join(seen) or 'no endpoints for that type'})"
    )
