"""Finding actions the ways Mistral does, in real environments built offline.

``mistral.actions`` entry points and ``mistral.generators`` (mistral-extra's
way), one rule for which entry wins a name in both launchers and in
``--inspect``, broken entries that never win, and installs that say when a
package registers nothing usable (and fail with ``strict``).
"""

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from executor import Executor, ExecutorConfig
from executor.environments.store import EnvironmentChangeFailed
from executor.environments.wheels import build_wheel
from executor.executor import ActionInstance

UV_OFFLINE = ["--offline"]

GENERATOR_MODULE = '''
from actions_api import Action


class FakeClient:
    """Stands in for an OpenStack client: methods reached by a dotted name."""

    class servers:
        @staticmethod
        def get(server):
            return {"id": server}

        @staticmethod
        def list(detailed=False):
            return [{"id": "s1", "detailed": detailed}]


class CloudAction(Action):
    """The base class, like mistral-extra's NovaAction."""

    client_method_name = None

    def __init__(self, **kwargs):
        self._kwargs_for_run = kwargs

    def run(self, context):
        method = FakeClient
        for part in self.client_method_name.split("."):
            method = getattr(method, part)
        return {
            "class": type(self).__name__,
            "method": self.client_method_name,
            "result": method(**self._kwargs_for_run),
        }


class CloudActionGenerator:
    action_namespace = "cloud"
    base_action_class = CloudAction

    @classmethod
    def create_actions(cls):
        actions = []
        for method, args in (("servers.get", "server"), ("servers.list", "detailed=false")):
            action_class = type(method, (cls.base_action_class,), {"client_method_name": method})
            actions.append(
                {
                    "class": action_class,
                    "name": "cloud." + method.replace(".", "_"),
                    "description": "Calls " + method + ".",
                    "arg_list": args,
                }
            )
        return actions


class BrokenGenerator:
    base_action_class = CloudAction

    @classmethod
    def create_actions(cls):
        raise RuntimeError("this generator is broken on purpose")


def all_generators():
    return [CloudActionGenerator, BrokenGenerator]
'''


def _action_module(tag: str) -> bytes:
    return (
        "from actions_api import Action\n"
        "class Report(Action):\n"
        "    def __init__(self, output=None):\n"
        "        self.output = output\n"
        "    def run(self, context):\n"
        f"        return {{'from': {tag!r}, 'output': self.output}}\n"
    ).encode()


PACKAGES: list[dict[str, Any]] = [
    {
        "name": "cloud-gen",
        "files": {"cloud_gen.py": GENERATOR_MODULE.encode()},
        "entry_points": {"mistral.generators": {"generators": "cloud_gen:all_generators"}},
    },
    # Two distributions offering the same name: 'dup-one' wins (alphabetically).
    {
        "name": "dup-one",
        "files": {"dup_one.py": _action_module("dup-one")},
        "entry_points": {"mistral.actions": {"dup.action": "dup_one:Report"}},
    },
    {
        "name": "dup-two",
        "files": {"dup_two.py": _action_module("dup-two")},
        "entry_points": {"mistral.actions": {"dup.action": "dup_two:Report"}},
    },
    # An environment's own std.echo wins over the runtime's inside it.
    {
        "name": "own-echo",
        "files": {"own_echo.py": _action_module("own-echo")},
        "entry_points": {"mistral.actions": {"std.echo": "own_echo:Report"}},
    },
    {
        "name": "broken-only",
        "files": {
            "broken_only.py": (
                b"def a_function(context=None):\n    return 1\nclass NotAnAction:\n    pass\n"
            )
        },
        "entry_points": {
            "mistral.actions": {
                "std.echo": "broken_only:Missing",
                "bo.function": "broken_only:a_function",
                "bo.not_an_action": "broken_only:NotAnAction",
            }
        },
    },
    {
        "name": "near-miss",
        "files": {"near_miss.py": _action_module("near-miss")},
        "entry_points": {"mistral.action": {"nm.action": "near_miss:Report"}},
    },
    {"name": "no-actions", "files": {"no_actions.py": b"X = 1\n"}},
]


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("discovery-wheels")
    for pkg in PACKAGES:
        build_wheel(
            str(folder),
            pkg["name"],
            "1.0",
            pkg["files"],
            entry_points=pkg.get("entry_points"),
        )
    return folder


@pytest.fixture(scope="module")
def state(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("discovery-state")


def _executor(state: Path, launcher: str) -> Executor:
    return Executor(ExecutorConfig(state_dir=str(state), launcher=launcher))


@pytest.fixture(scope="module")
def fork_ex(state):
    with _executor(state, "fork") as ex:
        yield ex


@pytest.fixture(scope="module")
def spawn_ex(state):
    with _executor(state, "spawn") as ex:
        yield ex


@pytest.fixture(params=["fork", "spawn"])
def ex(request, installed):
    return request.getfixturevalue(f"{request.param}_ex")


def _install(ex, env, *specs, wheelhouse, **kw):
    messages: list[str] = []
    infos = ex.install(
        env,
        list(specs),
        uv_args=[*UV_OFFLINE, "--find-links", str(wheelhouse)],
        progress=messages.append,
        **kw,
    )
    return infos, messages


@pytest.fixture(scope="module")
def installed(fork_ex, wheelhouse):
    """cloud: the generator package; dups: two entries of one name plus an own std.echo."""
    _install(fork_ex, "cloud", "cloud-gen", wheelhouse=wheelhouse)
    _install(fork_ex, "dups", "dup-one", "dup-two", wheelhouse=wheelhouse)
    return fork_ex


@pytest.fixture(scope="module")
def own_echo(tmp_path_factory, wheelhouse):
    """Executors (fork, spawn) of a state where an environment offers its own std.echo."""
    state = tmp_path_factory.mktemp("own-echo-state")
    with _executor(state, "fork") as fork, _executor(state, "spawn") as spawn:
        _install(fork, "own", "own-echo", wheelhouse=wheelhouse, prefer=True)
        yield fork, spawn


def _inspect(ex, env: str) -> dict:
    python = ex.store.environment(env).python
    proc = subprocess.run(
        [python, "-m", "action_host", "--inspect", "--json"],
        capture_output=True,
        text=True,
        check=True,
        cwd="/",
    )
    return json.loads(proc.stdout)


# -- generators ------------------------------------------------------------------


def test_generated_actions_run_by_name(ex):
    result = ex.run("cloud.servers_get", {"server": "s9"})
    assert result.is_success(), result.error
    # As in Mistral: a subclass of the base class, named like it, with the attributes.
    assert result.data == {
        "class": "CloudAction",
        "method": "servers.get",
        "result": {"id": "s9"},
    }


def test_generated_actions_take_their_parameters_from_the_arg_list(ex):
    info = next(i for _e, i in ex.catalog.entries() if i.name == "cloud.servers_list")
    assert info.signature() == "detailed=false"
    assert info.description == "Calls servers.list."
    assert info.source == "generator"
    assert ex.run("cloud.servers_list", {"detailed": True}).data["result"] == [
        {"id": "s1", "detailed": True}
    ]
    refused = ex.run("cloud.servers_list", {"nope": 1})
    assert refused.error_type == "InvalidInput"


def test_generated_actions_are_recorded_with_their_base_class_and_class_attributes(installed):
    info = next(i for _e, i in installed.catalog.entries() if i.name == "cloud.servers_get")
    assert info.class_path == "cloud_gen.CloudAction"
    assert info.class_attrs == {"client_method_name": "servers.get"}


def test_mistrals_encoding_of_a_generated_action_runs_it(ex):
    # What Mistral's engine sends for mistral-extra actions: the base class,
    # the generated class attributes, and vars() of the object it built.
    result = ex.run_instance(
        ActionInstance(
            class_path="cloud_gen.CloudAction",
            class_attrs={"client_method_name": "servers.get"},
            data={"_kwargs_for_run": {"server": "from-engine"}},
        )
    )
    assert result.is_success(), result.error
    assert result.action == "cloud.servers_get"
    assert result.data["result"] == {"id": "from-engine"}
    other = ex.run_instance(
        ActionInstance(
            class_path="cloud_gen.CloudAction",
            class_attrs={"client_method_name": "servers.list"},
            data={"_kwargs_for_run": {}},
        )
    )
    assert other.action == "cloud.servers_list"


def test_a_failing_generator_is_reported_like_a_broken_entry_point(installed):
    broken = [i for _e, i in installed.catalog.entries() if i.error]
    generator = [i for i in broken if i.name.startswith("mistral.generators:")]
    assert len(generator) == 1
    assert "BrokenGenerator" in generator[0].name
    assert "RuntimeError: this generator is broken on purpose" in generator[0].error


def test_inspect_lists_generated_actions_with_their_class_attributes(installed):
    python = installed.store.environment("cloud").python
    text = subprocess.run(
        [python, "-m", "action_host", "--inspect"],
        capture_output=True,
        text=True,
        check=True,
        cwd="/",
    ).stdout
    assert 'cloud_gen.CloudAction[client_method_name="servers.get"]' in text
    assert "this generator is broken on purpose" in text


# -- which entry wins a name -------------------------------------------------------


def test_both_launchers_run_the_same_class_for_a_name_offered_twice(fork_ex, spawn_ex, installed):
    by_fork = fork_ex.run("dup.action", {"output": 1})
    by_spawn = spawn_ex.run("dup.action", {"output": 1})
    assert by_fork.data == by_spawn.data == {"from": "dup-one", "output": 1}


def test_inspect_names_the_same_winner_and_lists_the_loser(installed):
    payload = _inspect(installed, "dups")
    dup = [a for a in payload["actions"] if a["name"] == "dup.action"]
    assert len(dup) == 1
    assert dup[0]["class_path"] == "dup_one.Report"
    assert any("dup_two:Report" in loser for loser in dup[0]["shadowed"])


def test_an_environments_own_entry_wins_over_the_runtimes_std_entry(own_echo):
    for ex in own_echo:
        result = ex.run("own:std.echo", {"output": "x"})
        assert result.data == {"from": "own-echo", "output": "x"}, result.error
    payload = _inspect(own_echo[0], "own")
    echo = next(a for a in payload["actions"] if a["name"] == "std.echo")
    assert echo["distribution"] == "own-echo"
    assert any("std_actions.basic:EchoAction" in loser for loser in echo["shadowed"])


# -- broken entries ------------------------------------------------------------------


def test_a_function_entry_point_is_listed_as_broken_with_a_clear_error(fork_ex, wheelhouse):
    infos, _messages = _install(fork_ex, "broken", "broken-only", wheelhouse=wheelhouse)
    by_name = {i.name: i for i in infos}
    assert by_name["bo.function"].error.startswith(
        "NotAnActionClass: broken_only:a_function is a function, not an action class"
    )
    assert "without a run() method" in by_name["bo.not_an_action"].error
    result = fork_ex.run("bo.function")
    assert result.error_type == "ActionLoadError"


def test_broken_entries_block_no_install_and_never_win_a_name(fork_ex, spawn_ex, wheelhouse):
    # broken-only offers a broken std.echo; with --prefer it must not take it over.
    _infos, messages = _install(
        fork_ex, "broken-preferred", "broken-only", wheelhouse=wheelhouse, prefer=True
    )
    assert any("all 3 action entry point(s) of this environment are broken" in m for m in messages)
    env, _info = fork_ex.catalog.resolve("std.echo")
    assert env.name == "default"
    for ex in (fork_ex, spawn_ex):
        result = ex.run("std.echo", {"output": "still ours"})
        assert result.is_success(), result.error
        assert result.data == "still ours"


def test_strict_refuses_an_install_whose_actions_are_all_broken(fork_ex, wheelhouse):
    with pytest.raises(EnvironmentChangeFailed, match=r"refused \(--strict\).*all 3 action entry"):
        _install(fork_ex, "strict-broken", "broken-only", wheelhouse=wheelhouse, strict=True)
    assert "strict-broken" not in fork_ex.store.names()


def test_an_install_that_registers_no_action_says_so_and_strict_refuses_it(fork_ex, wheelhouse):
    _infos, messages = _install(fork_ex, "empty", "no-actions", wheelhouse=wheelhouse)
    assert any("no package in this environment registers actions" in m for m in messages)
    with pytest.raises(EnvironmentChangeFailed, match="registers actions"):
        _install(fork_ex, "empty-strict", "no-actions", wheelhouse=wheelhouse, strict=True)
    assert "empty-strict" not in fork_ex.store.names()


def test_a_near_miss_group_name_is_reported_and_strict_refuses_it(fork_ex, wheelhouse):
    _infos, messages = _install(fork_ex, "nearmiss", "near-miss", wheelhouse=wheelhouse)
    warning = next(m for m in messages if "'mistral.action'" in m)
    assert "did you mean 'mistral.actions'" in warning
    assert "near-miss" in warning
    payload = _inspect(fork_ex, "nearmiss")
    assert any("did you mean 'mistral.actions'" in n for n in payload["notices"])
    with pytest.raises(EnvironmentChangeFailed, match="refused"):
        _install(fork_ex, "nearmiss-strict", "near-miss", wheelhouse=wheelhouse, strict=True)
    assert "nearmiss-strict" not in fork_ex.store.names()


def test_the_cli_install_strict_fails_with_the_environment_unchanged(state, wheelhouse):
    from executor.cli import main

    code = main(
        [
            "--state-dir",
            str(state),
            "install",
            "--strict",
            "--env",
            "cli-strict",
            "--offline",
            "--find-links",
            str(wheelhouse),
            "no-actions",
        ]
    )
    assert code != 0
    assert not (state / "envs" / "cli-strict.json").exists()
