"""Service tests run against a real RabbitMQ on 127.0.0.1:5672, in a vhost of their own.

They fail (never skip) when the broker is missing: a green run must mean the
service was exercised. ``make test`` starts RabbitMQ when it is installed.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from harness import Broker, EngineDouble, ServiceProcess, broker_available, rabbitmqctl


@pytest.fixture(scope="session")
def broker() -> Iterator[Broker]:
    problem = broker_available()
    if problem:
        pytest.fail(problem, pytrace=False)
    vhost = f"mah-test-{uuid.uuid4().hex[:10]}"
    rabbitmqctl("add_vhost", vhost)
    try:
        rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        yield Broker(vhost)
    finally:
        rabbitmqctl("delete_vhost", vhost, check=False)


@pytest.fixture(scope="session")
def engine(broker: Broker) -> Iterator[EngineDouble]:
    double = EngineDouble(broker)
    yield double
    double.close()


@pytest.fixture(scope="session")
def services_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("services")


@pytest.fixture(scope="session")
def alpha(
    broker: Broker, engine: EngineDouble, services_dir: Path, plugin_site: Path
) -> Iterator[ServiceProcess]:
    """The executor most tests talk to (host ``alpha``), running for the whole session."""
    service = ServiceProcess(broker, services_dir / "alpha", "alpha", plugin_site=plugin_site)
    service.start()
    yield service
    service.stop()


@pytest.fixture
def make_service(broker: Broker, services_dir: Path, plugin_site: Path) -> Iterator:
    """Executors of a test's own (stopped after it); same host -> same state and journal."""
    made: list[ServiceProcess] = []

    def make(host: str, **sections: dict) -> ServiceProcess:
        service = ServiceProcess(
            broker, services_dir / host, host, plugin_site=plugin_site, sections=sections
        )
        made.append(service)
        return service

    yield make
    for service in made:
        service.stop()
