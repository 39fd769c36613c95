"""std.http and std.mistral_http against a real HTTP server on 127.0.0.1.

The server is on loopback, which the default ``[action_std_http]`` policy
refuses; the ``open_policy`` fixture empties ``denied_cidrs`` in-process
(``cfg.CONF.set_override``), as an operator's config file would.
"""

from __future__ import annotations

import json
import logging
import time

import pytest
from oslo_config import cfg
from std_support import free_port, http_server

from actions_api import ActionContext, ActionException, ExecutionContext, Result
from std_actions import http_policy
from std_actions.http import HTTPAction, MistralHTTPAction

CTX = ActionContext()


@pytest.fixture(scope="module")
def server():
    with http_server() as srv:
        yield srv


@pytest.fixture(params=["fork", "spawn"])
def launcher(request):
    return request.param


@pytest.fixture
def policy():
    """Set ``[action_std_http]`` options for one test (cleared afterwards)."""
    http_policy.register_options()
    changed: list[str] = []

    def override(**values):
        for name, value in values.items():
            cfg.CONF.set_override(name, value, group=http_policy.GROUP)
            changed.append(name)

    yield override
    for name in changed:
        cfg.CONF.clear_override(name, group=http_policy.GROUP)


@pytest.fixture
def open_policy(policy):
    policy(denied_cidrs=[])
    return policy


def run(**params):
    return HTTPAction(**params).run(CTX)


# ------------------------------------------------------------ requests and results


def test_a_get_returns_the_parsed_json_body_and_the_response_description(server, open_policy):
    result = run(url=f"{server.base}/json")
    assert result["content"] == {"hello": "world", "n": [1, 2]}
    assert result["status"] == 200
    assert result["reason"] == "OK"
    assert result["headers"]["Content-Type"] == "application/json"
    assert result["url"] == f"{server.base}/json"
    assert result["history"] == []
    assert isinstance(result["elapsed"], float)
    assert set(result) == {
        "content",
        "status",
        "headers",
        "url",
        "history",
        "encoding",
        "reason",
        "cookies",
        "elapsed",
    }


def test_a_body_that_is_not_json_is_returned_as_text(server, open_policy):
    result = run(url=f"{server.base}/text")
    assert result["content"] == "plain text, ünicode"
    assert result["encoding"] == "utf-8"


def test_json_is_sent_as_a_json_body(server, open_policy):
    result = run(url=f"{server.base}/echo", method="POST", json={"a": [1, 2]})
    assert result["content"]["method"] == "POST"
    assert json.loads(result["content"]["body"]) == {"a": [1, 2]}
    assert result["content"]["headers"]["Content-Type"] == "application/json"


def test_a_dict_body_is_json_encoded(server, open_policy):
    action = HTTPAction(url=f"{server.base}/echo", method="PUT", body={"k": "v"})
    assert action.body == '{"k": "v"}'
    result = action.run(CTX)
    assert json.loads(result["content"]["body"]) == {"k": "v"}


def test_a_string_body_is_sent_as_it_is(server, open_policy):
    result = run(url=f"{server.base}/echo", method="POST", body="raw=1&x=2")
    assert result["content"]["body"] == "raw=1&x=2"


def test_body_and_json_together_are_refused():
    with pytest.raises(ActionException, match="Only one of the parameters 'json' and 'body'"):
        HTTPAction(url="http://example.invalid/", body="x", json={"y": 1})


def test_numeric_header_values_are_sent_as_strings(server, open_policy):
    action = HTTPAction(url=f"{server.base}/echo", headers={"X-Count": 3, "X-Ratio": 0.5})
    assert action.headers == {"X-Count": "3", "X-Ratio": "0.5"}
    headers = action.run(CTX)["content"]["headers"]
    assert headers["X-Count"] == "3"
    assert headers["X-Ratio"] == "0.5"


def test_params_become_the_query_string(server, open_policy):
    result = run(url=f"{server.base}/echo", params={"q": "search", "page": "2"})
    assert result["content"]["query"] == {"q": "search", "page": "2"}


def test_auth_user_colon_password_is_basic_auth(server, open_policy):
    action = HTTPAction(url=f"{server.base}/auth", auth="user:s3cret-pw")
    assert action.auth == ("user", "s3cret-pw")
    assert action.run(CTX)["content"] == {"authenticated": True}


def test_cookies_are_sent_and_response_cookies_returned(server, open_policy):
    result = run(url=f"{server.base}/cookie", cookies={"flavour": "oat"})
    assert result["content"] == {"cookie": "flavour=oat"}
    assert result["cookies"] == {"session": "abc123"}


def test_redirects_are_not_followed_by_default_as_in_mistral(server, open_policy):
    result = run(url=f"{server.base}/redirect?to=/json")
    assert result["status"] == 302
    assert result["headers"]["Location"] == "/json"


def test_redirects_are_followed_with_allow_redirects_and_listed_in_history(server, open_policy):
    result = run(url=f"{server.base}/redirect?to=/json", allow_redirects=True)
    assert result["status"] == 200
    assert result["content"] == {"hello": "world", "n": [1, 2]}
    assert result["history"] == [
        {"url": f"{server.base}/redirect?to=/json", "status": 302, "reason": "Found"}
    ]


def test_a_status_outside_200_306_fails_with_the_same_description_as_error(server, open_policy):
    result = run(url=f"{server.base}/status?code=404")
    assert isinstance(result, Result)
    assert result.is_error()
    assert result.error["status"] == 404
    assert result.error["content"] == {"status": 404}
    assert result.error["reason"] == "Not Found"


def test_a_request_slower_than_its_timeout_fails(server, open_policy):
    started = time.monotonic()
    with pytest.raises(ActionException, match="Failed to send HTTP request"):
        run(url=f"{server.base}/slow?seconds=5", timeout=0.5)
    assert time.monotonic() - started < 4


def test_without_a_timeout_the_configured_default_timeout_applies(server, open_policy):
    open_policy(default_timeout=1)
    started = time.monotonic()
    with pytest.raises(ActionException, match="timed out"):
        run(url=f"{server.base}/slow?seconds=5")
    assert time.monotonic() - started < 4


def test_a_connection_error_raises_an_action_exception(open_policy):
    with pytest.raises(ActionException, match="Failed to send HTTP request"):
        run(url=f"http://127.0.0.1:{free_port()}/", timeout=5)


def test_verify_is_ignored_for_plain_http(server, open_policy):
    result = run(url=f"{server.base}/json", verify="/no/such/ca-bundle.pem")
    assert result["status"] == 200


# ------------------------------------------------------------ egress policy


def test_loopback_is_refused_by_the_default_policy_before_any_request(server):
    before = len(server.requests)
    with pytest.raises(ActionException, match="denied_cidrs"):
        run(url=f"{server.base}/json")
    assert len(server.requests) == before


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://localhost/",
        "http://[::1]/",
        "http://0.0.0.0/",
    ],
)
def test_metadata_service_and_local_addresses_are_refused_by_default(url):
    with pytest.raises(http_policy.UrlNotAllowed):
        run(url=url)


def test_only_http_and_https_urls_are_allowed(open_policy):
    with pytest.raises(http_policy.UrlNotAllowed, match="scheme 'file'"):
        run(url="file:///etc/passwd")


def test_allowed_hosts_refuses_every_other_host(server, open_policy):
    open_policy(allowed_hosts=["api.example.com"])
    with pytest.raises(http_policy.UrlNotAllowed, match="allowed_hosts"):
        run(url=f"{server.base}/json")
    open_policy(allowed_hosts=["127.0.0.1"])
    assert run(url=f"{server.base}/json")["status"] == 200


def test_a_redirect_into_a_denied_network_is_refused(server, policy):
    policy(denied_cidrs=["10.0.0.0/8"])
    with pytest.raises(http_policy.UrlNotAllowed, match="10.1.2.3"):
        run(url=f"{server.base}/redirect?to=http://10.1.2.3/secret", allow_redirects=True)


def test_a_proxy_in_a_denied_network_is_refused(server):
    with pytest.raises(http_policy.UrlNotAllowed):
        run(url="http://example.invalid/", proxies={"http": "http://127.0.0.1:3128"})


def test_a_response_declaring_more_than_the_size_limit_is_refused(server, open_policy):
    open_policy(max_response_size_bytes=1000)
    with pytest.raises(ActionException, match="too large .*Content-Length=1001"):
        run(url=f"{server.base}/big?size=1001")
    assert run(url=f"{server.base}/big?size=1000")["content"] == "x" * 1000


def test_a_streamed_response_is_cut_off_at_the_size_limit(server, open_policy):
    open_policy(max_response_size_bytes=100_000)
    with pytest.raises(ActionException, match="more than 100000 bytes"):
        run(url=f"{server.base}/stream?size=300000")
    assert len(run(url=f"{server.base}/stream?size=90000")["content"]) == 90000


def test_the_default_size_limit_is_five_mebibytes(server, open_policy):
    assert http_policy.current_policy().max_response_size_bytes == 5 * 1024 * 1024
    with pytest.raises(ActionException, match="too large"):
        run(url=f"{server.base}/big?size={5 * 1024 * 1024 + 1}")


# ------------------------------------------------------------ secrets


def test_credentials_appear_in_neither_logs_nor_error_messages(open_policy, caplog):
    caplog.set_level(logging.DEBUG)
    port = free_port()
    action = HTTPAction(
        url=f"http://admin:url-pass-1@127.0.0.1:{port}/x?token=query-token-2&page=1",
        auth="user:auth-pass-3",
        cookies={"session": "cookie-4"},
        headers={"Authorization": "Bearer header-5", "X-Auth-Token": "header-6"},
        params={"api_key": "param-7"},
        timeout=5,
    )
    with pytest.raises(ActionException) as info:
        action.run(CTX)
    text = str(info.value) + "\n".join(r.getMessage() for r in caplog.records)
    assert "Failed to send HTTP request" in str(info.value)
    for secret in ("url-pass-1", "query-token-2", "auth-pass-3", "cookie-4", "header-5"):
        assert secret not in text
    for secret in ("header-6", "param-7"):
        assert secret not in text
    assert "page=1" in text  # only secrets are masked


def test_a_credential_echoed_in_a_requests_error_is_masked(open_policy, caplog):
    # requests refuses a header value with a newline, quoting the value.
    action = HTTPAction(
        url=f"http://127.0.0.1:{free_port()}/",
        headers={"Authorization": "Bearer leaked-token-8\n"},
        timeout=5,
    )
    with pytest.raises(ActionException, match="Failed to send HTTP request") as info:
        action.run(CTX)
    assert "leaked-token-8" not in str(info.value)
    assert "InvalidHeader" in caplog.text
    assert "leaked-token-8" not in caplog.text


# ------------------------------------------------------------ std.mistral_http


def test_mistral_http_sends_the_execution_headers(server, open_policy):
    ctx = ActionContext(
        execution=ExecutionContext(
            workflow_name="wf",
            workflow_execution_id="wf-ex-1",
            task_execution_id="task-ex-2",
            action_execution_id="action-ex-3",
            callback_url="http://mistral/v2/action_executions/action-ex-3",
        )
    )
    action = MistralHTTPAction(url=f"{server.base}/echo", headers={"X-Mine": "1"})
    headers = action.run(ctx)["content"]["headers"]
    assert headers["Mistral-Workflow-Name"] == "wf"
    assert headers["Mistral-Workflow-Execution-Id"] == "wf-ex-1"
    assert headers["Mistral-Task-Id"] == "task-ex-2"
    assert headers["Mistral-Action-Execution-Id"] == "action-ex-3"
    assert headers["Mistral-Callback-URL"] == "http://mistral/v2/action_executions/action-ex-3"
    assert headers["X-Mine"] == "1"


def test_mistral_http_is_asynchronous_and_still_reports_an_error_status(server, open_policy):
    action = MistralHTTPAction(url=f"{server.base}/status?code=500")
    assert action.is_sync() is False
    result = action.run(CTX)
    assert result.is_error()
    assert result.error["status"] == 500


# ------------------------------------------------------------ Mistral's serialized form


def test_an_http_action_rebuilt_from_mistrals_attributes_runs(server, open_policy):
    # vars() of Mistral's HTTPAction after __init__, through JSON (tuples become lists).
    state = {
        "auth": ["user", "s3cret-pw"],
        "url": f"{server.base}/auth",
        "method": "GET",
        "params": None,
        "body": None,
        "json": None,
        "headers": {"X-Count": "3"},
        "cookies": None,
        "timeout": None,
        "allow_redirects": None,
        "proxies": None,
        "verify": None,
    }
    for cls in (HTTPAction, MistralHTTPAction):
        action = cls.__new__(cls)
        for name, value in state.items():
            setattr(action, name, value)
        result = action.run(CTX)
        assert result["content"] == {"authenticated": True}


def test_the_constructor_sets_exactly_mistrals_attributes():
    action = HTTPAction(url="http://example.invalid/", auth="a:b", body={"x": 1})
    assert set(vars(action)) == {
        "auth",
        "url",
        "method",
        "params",
        "body",
        "json",
        "headers",
        "cookies",
        "timeout",
        "allow_redirects",
        "proxies",
        "verify",
    }


# ------------------------------------------------------------ through the executor


def test_std_http_through_the_executor_refuses_loopback_by_default(server, executor):
    before = len(server.requests)
    result = executor.run("std.http", {"url": f"{server.base}/json"})
    assert result.is_error()
    assert "denied_cidrs" in str(result.error)
    assert len(server.requests) == before


def test_std_mistral_http_through_the_executor_is_async_and_refuses_loopback(server, fork_executor):
    result = fork_executor.run("std.mistral_http", {"url": f"{server.base}/json"})
    assert result.is_error()
    assert "denied_cidrs" in str(result.error)


def test_std_http_through_the_executor_follows_the_hosts_config_file(
    server, make_executor, tmp_path, launcher
):
    conf = tmp_path / "std-http.conf"
    conf.write_text("[action_std_http]\ndenied_cidrs =\nmax_response_size_bytes = 2000\n")
    executor = make_executor(launcher=launcher, host_config_files=(str(conf),))
    result = executor.run("std.http", {"url": f"{server.base}/json"})
    assert result.is_success(), result.error
    assert result.data["content"] == {"hello": "world", "n": [1, 2]}
    too_big = executor.run("std.http", {"url": f"{server.base}/big?size=2001"})
    assert too_big.is_error()
    assert "too large" in str(too_big.error)


def test_std_mistral_http_through_the_executor_sends_the_execution_headers(
    server, make_executor, tmp_path
):
    conf = tmp_path / "std-http.conf"
    conf.write_text("[action_std_http]\ndenied_cidrs =\n")
    executor = make_executor(host_config_files=(str(conf),))
    result = executor.run(
        "std.mistral_http",
        {"url": f"{server.base}/echo"},
        context={"execution": {"workflow_name": "wf", "action_execution_id": "a-1"}},
    )
    assert result.is_success(), result.error
    headers = result.data["content"]["headers"]
    assert headers["Mistral-Workflow-Name"] == "wf"
    assert headers["Mistral-Action-Execution-Id"] == "a-1"
