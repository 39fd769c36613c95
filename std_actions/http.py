"""std.http and std.mistral_http: HTTP requests from a workflow (requests).

Parameters, defaults, attribute names and the result are Mistral's. Every
request, and every redirect it follows, passes the ``[action_std_http]``
egress policy first (see ``std_actions.http_policy``); the body is read in
chunks and cut off at ``max_response_size_bytes``. Credentials (``auth``,
``cookies``, secret-named headers and query parameters, a password in the
URL) are masked in logs and error messages.
"""

from __future__ import annotations

import functools
import json as jsonlib
import logging
import re
from typing import Any
from urllib.parse import urlsplit

from actions_api import Action, ActionContext, ActionException, Result
from actions_api.secrets import MASK, is_secret_name, mask

from . import http_policy
from ._deps import require

try:  # Import now, so a fork template that preloads actions has it warm (~0.25 s).
    import requests  # noqa: F401
except ImportError:  # run() says what to install
    pass

LOG = logging.getLogger(__name__)

_CHUNK = 64 * 1024
_USERINFO = re.compile(r"(//[^/@\s:]*):[^/@\s]*@")
_QUERY_PARAM = re.compile(r"([?&;])([^=&;\s#'\")]+)=([^&;\s#'\")]*)")


def redact_text(text: str) -> str:
    """``text`` with URL passwords and secret-named query values masked."""
    text = _USERINFO.sub(lambda m: f"{m.group(1)}:{MASK}@", text)

    def query(m: re.Match[str]) -> str:
        key = m.group(2)
        return f"{m.group(1)}{key}={MASK}" if is_secret_name(key) else m.group(0)

    return _QUERY_PARAM.sub(query, text)


def _safe_auth(auth: Any) -> Any:
    if isinstance(auth, (tuple, list)) and auth:
        return (auth[0], MASK) if len(auth) > 1 else MASK
    return MASK if auth else auth


def _as_auth(auth: Any) -> Any:
    """A (user, password) tuple from ``"u:p"`` or a 2-list (JSON has no tuples)."""
    if isinstance(auth, str) and len(auth.split(":")) == 2:
        user, password = auth.split(":")
        return (user, password)
    if isinstance(auth, list) and len(auth) == 2:
        return tuple(auth)
    return auth


def _as_timeout(timeout: Any) -> Any:
    if isinstance(timeout, list):
        return tuple(timeout)
    return timeout


def _decode(data: bytes, encoding: str | None) -> Any:
    """JSON if the body parses as JSON, else text (Mistral returns raw bytes)."""
    if not data:
        return ""
    try:
        return jsonlib.loads(data)
    except ValueError:
        pass
    if encoding:
        try:
            return data.decode(encoding, errors="replace")
        except LookupError:
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _describe(resp: Any, data: bytes) -> dict[str, Any]:
    """The action's result (Mistral's shape): the response, its body decoded."""
    return {
        "content": _decode(data, resp.encoding),
        "status": resp.status_code,
        "headers": dict(resp.headers.items()),
        "url": resp.url,
        "history": [
            {"url": r.url, "status": r.status_code, "reason": r.reason} for r in resp.history
        ],
        "encoding": resp.encoding,
        "reason": resp.reason,
        "cookies": dict(resp.cookies.items()),
        "elapsed": resp.elapsed.total_seconds(),
    }


class HTTPAction(Action):
    """Send an HTTP request; the result describes the response.

    A status outside 200-306 fails the action with the same description as
    its error; a request that cannot be sent raises ``ActionException``.
    """

    def __init__(
        self,
        url: str,
        method: str = "GET",
        params: Any = None,
        body: Any = None,
        json: Any = None,
        headers: dict[str, Any] | None = None,
        cookies: dict[str, str] | None = None,
        auth: Any = None,
        timeout: Any = None,
        allow_redirects: bool | None = None,
        proxies: dict[str, str] | None = None,
        verify: Any = None,
    ):
        if body and json:
            raise ActionException("Only one of the parameters 'json' and 'body' can be passed")
        if isinstance(headers, dict):
            headers = {k: str(v) if isinstance(v, (int, float)) else v for k, v in headers.items()}
        self.url = url
        self.method = method
        self.params = params
        self.body = jsonlib.dumps(body) if isinstance(body, dict) else body
        self.json = json
        self.headers = headers
        self.cookies = cookies
        self.auth = _as_auth(auth)
        self.timeout = timeout
        self.allow_redirects = allow_redirects
        self.proxies = proxies
        self.verify = verify

    def _request_headers(self, context: ActionContext) -> dict[str, Any] | None:
        return self.headers

    def run(self, context: ActionContext) -> Any:
        requests = require("requests", "std.http")
        policy = self._checked_policy()
        headers = self._request_headers(context)
        timeout = _as_timeout(self.timeout)
        if timeout is None and policy.default_timeout:
            timeout = policy.default_timeout
        verify = self.verify if urlsplit(self.url).scheme == "https" else None
        self._log_request(headers, timeout, verify)
        session = _session(requests, policy)
        try:
            resp, data = self._send(session, policy, headers, timeout, verify)
        except ActionException:
            raise
        except Exception as exc:
            raise self._send_failed(exc, context)
        LOG.info("HTTP action response: %s, %d bytes", resp.status_code, len(data))
        result = _describe(resp, data)
        if resp.status_code not in range(200, 307):
            return Result(error=result)
        return result

    def _checked_policy(self) -> http_policy.Policy:
        """The policy in force, once the URL and every proxy passed it."""
        policy = http_policy.current_policy()
        http_policy.validate_url(self.url, policy)
        for proxy in (self.proxies or {}).values():
            if proxy:
                http_policy.validate_url(proxy, policy)
        return policy

    def _log_request(self, headers: dict[str, Any] | None, timeout: Any, verify: Any) -> None:
        """Everything the request carries, credentials masked."""
        LOG.info(
            "Running HTTP action [url=%s, method=%s, params=%s, body=%s, json=%s, headers=%s, "
            "cookies=%s, auth=%s, timeout=%s, allow_redirects=%s, proxies=%s, verify=%s]",
            redact_text(self.url),
            self.method,
            mask(self.params, "params") if isinstance(self.params, dict) else self.params,
            f"<{len(self.body)} bytes>" if self.body else None,
            "<set>" if self.json is not None else None,
            mask(headers),
            MASK if self.cookies else None,
            _safe_auth(self.auth),
            timeout,
            self.allow_redirects,
            mask(self.proxies),
            verify,
        )

    def _send(
        self,
        session: Any,
        policy: http_policy.Policy,
        headers: dict[str, Any] | None,
        timeout: Any,
        verify: Any,
    ) -> tuple[Any, bytes]:
        """The response, and its body up to the policy's size limit."""
        with session:
            resp = session.request(
                self.method,
                self.url,
                params=self.params,
                data=self.body,
                json=self.json,
                headers=headers,
                cookies=self.cookies,
                auth=_as_auth(self.auth),
                timeout=timeout,
                allow_redirects=self.allow_redirects,
                proxies=self.proxies,
                verify=verify,
                stream=True,
            )
            with resp:
                return resp, self._read_body(resp, policy.max_response_size_bytes)

    def _send_failed(self, exc: Exception, context: ActionContext) -> ActionException:
        """What a request that could not be sent raises, credentials struck out."""
        LOG.warning(
            "Failed to send HTTP request for action execution %s: %s",
            context.execution.action_execution_id,
            self._scrub(f"{type(exc).__name__}: {exc}"),
        )
        return ActionException(f"Failed to send HTTP request: {self._scrub(str(exc))}")

    def _secret_values(self) -> set[str]:
        """Every credential this request carries, to strike from error texts."""
        found: set[str] = set()

        def secret_values(value: Any, key: str = "") -> None:
            if isinstance(value, dict):
                for k, v in value.items():
                    secret_values(v, str(k))
            elif key and is_secret_name(key) and value is not None:
                found.add(str(value))

        auth = _as_auth(self.auth)
        if isinstance(auth, tuple) and len(auth) > 1:
            found.add(str(auth[1]))
        elif isinstance(auth, str):
            found.add(auth)
        if isinstance(self.cookies, dict):
            found.update(str(v) for v in self.cookies.values())
        for value in (self.headers, self.params):
            if isinstance(value, dict):
                secret_values(value)
        password = urlsplit(str(self.url)).password
        if password:
            found.add(password)
        variants: set[str] = set()
        for value in found:
            for form in (value, value.strip(), value.split()[-1] if value.split() else ""):
                variants.update((form, repr(form)[1:-1]))
        return {v for v in variants if len(v) >= 3}

    def _scrub(self, text: str) -> str:
        """``text`` without credentials: URL passwords, secret query values, known secrets."""
        text = redact_text(text)
        for secret in sorted(self._secret_values(), key=len, reverse=True):
            text = text.replace(secret, MASK)
        return text

    @staticmethod
    def _read_body(resp: Any, limit: int) -> bytes:
        """The body, refusing more than ``limit`` bytes (declared or actually sent)."""
        declared = resp.headers.get("Content-Length")
        if limit and declared and declared.isdigit() and int(declared) > limit:
            raise ActionException(
                f"HTTP response is too large (Content-Length={declared}, limit={limit} bytes, "
                f"[{http_policy.GROUP}] max_response_size_bytes)"
            )
        chunks = []
        size = 0
        for chunk in resp.iter_content(_CHUNK):
            size += len(chunk)
            if limit and size > limit:
                raise ActionException(
                    f"HTTP response is too large (more than {limit} bytes read, "
                    f"[{http_policy.GROUP}] max_response_size_bytes)"
                )
            chunks.append(chunk)
        return b"".join(chunks)

    def test(self, context: ActionContext) -> None:
        return None


class MistralHTTPAction(HTTPAction):
    """std.http plus headers naming the workflow, task and action execution.

    Asynchronous: the called service reports the result to Mistral's API
    later (at ``Mistral-Callback-URL``); an error status still fails the
    action at once.
    """

    def _request_headers(self, context: ActionContext) -> dict[str, Any] | None:
        execution = context.execution
        extra = {
            "Mistral-Workflow-Name": execution.workflow_name,
            "Mistral-Workflow-Execution-Id": execution.workflow_execution_id,
            "Mistral-Task-Id": execution.task_execution_id,
            "Mistral-Action-Execution-Id": execution.action_execution_id,
            "Mistral-Callback-URL": execution.callback_url,
        }
        headers = dict(self.headers or {})
        headers.update({k: v for k, v in extra.items() if v is not None})
        return headers

    def is_sync(self) -> bool:
        return False

    def test(self, context: ActionContext) -> None:
        return None


def _session(requests: Any, policy: http_policy.Policy) -> Any:
    """A session that checks every hop (each redirect too) against ``policy``."""
    session = requests.Session()
    adapter = _policy_adapter_class()(policy)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


@functools.cache
def _policy_adapter_class() -> Any:
    from requests.adapters import HTTPAdapter

    class PolicyAdapter(HTTPAdapter):
        """Checks every URL it sends, so redirects cannot leave the policy."""

        def __init__(self, policy: http_policy.Policy) -> None:
            super().__init__()
            self.policy = policy

        def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
            http_policy.validate_url(request.url, self.policy)
            return super().send(request, *args, **kwargs)

    return PolicyAdapter
