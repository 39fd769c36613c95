"""Generators (mistral-extra's 19, each reading its whole mapping) run once
per process, and only the one of the asked name's namespace when it has it:
a warm template's children inherit what they produced."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from action_host import discovery
from actions_api import Action

CREATED: list[str] = []


class CloudAction(Action):
    client_method_name: str | None = None

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs

    def run(self, context: Any) -> Any:
        return self.client_method_name


def _generator(namespace: str) -> type:
    class Generator:
        action_namespace = namespace
        base_action_class = CloudAction

        @classmethod
        def create_actions(cls) -> list[dict[str, Any]]:
            CREATED.append(namespace)
            attrs = {"client_method_name": "servers.list"}
            return [
                {
                    "class": type("servers.list", (CloudAction,), attrs),
                    "name": f"{namespace}.servers_list",
                    "description": "",
                    "arg_list": "",
                }
            ]

    return Generator


@dataclass
class FakeEntryPoint:
    """What importlib.metadata gives: a name, a target, ``load()``."""

    name: str = "generators"
    value: str = "cloud_gen:all_generators"
    group: str = discovery.GENERATORS
    dist: Any = None

    def load(self) -> Any:
        return lambda: [_generator("nova"), _generator("cinder"), _generator("glance")]


@pytest.fixture(autouse=True)
def fresh_process_caches():
    discovery._produced.clear()
    discovery._generators.clear()
    CREATED.clear()
    yield
    discovery._produced.clear()
    discovery._generators.clear()


def test_a_generated_name_runs_only_the_generator_of_its_namespace():
    found = discovery._generated_named([FakeEntryPoint()], "cinder.servers_list")
    assert [c.name for c in found] == ["cinder.servers_list"]
    assert CREATED == ["cinder"]


def test_each_generator_runs_once_per_process():
    for _ in range(3):
        discovery._generated_named([FakeEntryPoint()], "nova.servers_list")
    list(discovery._generated(FakeEntryPoint()))
    assert sorted(CREATED) == ["cinder", "glance", "nova"]


def test_a_name_outside_every_namespace_still_looks_at_all_generators():
    found = discovery._generated_named([FakeEntryPoint()], "other.servers_list")
    assert found == []
    assert sorted(CREATED) == ["cinder", "glance", "nova"]
