"""Mistral's own package (``mistral`` from the package registry) runs through our host.

Its std actions need ``mistral.db.v2.api`` imported before
``mistral.actions.std_actions`` (a circular import otherwise), which the
environment's ``preimport`` setting does; its std.http reads Mistral's
``[action_std_http]`` options from the environment's ``config_file``. The
environment is built once and cached (like the mistral-lib one), reused
while the runtime is unchanged;
installing ``mistral`` with uv takes about 5 s here, importing it about 7 s.
"""

import http.server
import json
import os
import threading
from pathlib import Path

import pytest
from helpers import cache_lock, installed_version

from executor import Executor, ExecutorConfig
from executor.environments.wheels import build_runtime_wheel
from executor.executor import ActionInstance
from executor.sandbox.model import SandboxPolicy

MISTRAL = "mistral==23.0.0"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mistral-action-host-tests"
STATE = CACHE / "state-mistral"


@pytest.fixture(scope="module")
def mistral_env():
    """The cached environment holding Mistral, with mistral.db.v2.api imported first."""
    with cache_lock("state-mistral"), Executor(ExecutorConfig(state_dir=str(STATE))) as ex:
        runtime = os.path.basename(build_runtime_wheel(str(CACHE / "wheels"))).split("-")[1]
        env = ex.store.environment("mistral")
        fresh = (
            os.path.exists(env.python)
            and installed_version(env.python, "mistral-action-host") == runtime
            and installed_version(env.python, "mistral") == MISTRAL.split("==")[1]
        )
        if not fresh:
            if "mistral" in ex.store.names():
                ex.store.remove("mistral")
            ex.install("mistral", [MISTRAL])
        # Mistral's own egress policy refuses loopback by default; the test server
        # is on 127.0.0.1, so this environment's config file allows it.
        conf = STATE / "mistral-test.conf"
        conf.write_text("[action_std_http]\ndenied_cidrs = 169.254.0.0/16\n")
        ex.store.set_settings("mistral", ["preimport=mistral.db.v2.api", f"config_file={conf}"])
    return STATE


@pytest.fixture(scope="module", params=["fork", "spawn"])
def ex(request, mistral_env):
    config = ExecutorConfig(
        state_dir=str(mistral_env),
        launcher=request.param,
        template_start_timeout=300,
        # the HTTP test server is on 127.0.0.1, which "egress" refuses to actions
        sandbox=SandboxPolicy(network="host"),
    )
    with Executor(config) as executor:
        yield executor


@pytest.fixture(scope="module")
def server():
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"path": self.path}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_mistrals_std_actions_load_with_the_preimport_setting(ex):
    infos = {i.name: i for env, i in ex.catalog.entries() if env == "mistral"}
    assert infos["std.echo"].error is None, infos["std.echo"].error
    assert infos["std.echo"].class_path == "mistral.actions.std_actions.EchoAction"
    assert infos["std.echo"].distribution == "mistral"


def test_mistrals_own_echo_runs_by_name(ex):
    result = ex.run("mistral:std.echo", {"output": {"a": 1}}, timeout=120)
    assert result.is_success(), result.error
    assert result.data == {"a": 1}


def test_mistrals_echo_class_path_runs_mistrals_class(ex):
    # What Mistral's engine sends: its class path, no class attributes, vars().
    result = ex.run_instance(
        ActionInstance(
            "mistral.actions.std_actions.EchoAction", data={"output": "engine", "_delay": 0}
        ),
        timeout=120,
    )
    assert result.is_success(), result.error
    assert result.data == "engine"
    assert result.action == "std.echo"


def test_mistrals_http_action_runs_with_the_environments_config_file(ex, server):
    result = ex.run_instance(
        ActionInstance(
            "mistral.actions.std_actions.HTTPAction",
            data={
                "url": f"{server}/hello",
                "method": "GET",
                "params": None,
                "body": None,
                "json": None,
                "headers": None,
                "cookies": None,
                "auth": None,
                "timeout": 10,
                "allow_redirects": None,
                "proxies": None,
                "verify": None,
            },
        ),
        timeout=120,
    )
    assert result.is_success(), result.error
    assert result.data["status"] == 200
    assert result.data["content"] == {"path": "/hello"}
