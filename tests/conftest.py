"""Shared fixtures. A test that needs a broker starts one on a free port (never the one on :1883).

- ``broker`` (session): one real broker for the whole run, Mosquitto if installed, else embedded amqtt;
- ``broker_url`` (per test): ``"mqtt://127.0.0.1:PORT"`` of that broker, restarted if a test stopped it;
- ``own_broker`` (per test): a broker of the test's own, for tests that stop, kill or restart it.

Use unique client ids per test (e.g. ``uuid.uuid4().hex[:8]``): the session broker keeps persistent
sessions between tests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from hypothesis import HealthCheck, settings

from broker.server import BrokerHandle, launch_broker, start_broker

# Hypothesis's timing checks off for every property test: a test's deadline (200 ms an example) and the
# too_slow health check (data generation slower than a bound) time the machine, not the rules, and fail on a
# shared, loaded CI host (2 cores). Every example and assertion still runs; only wall-time limits go.
settings.register_profile("liqnet", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("liqnet")


@pytest.fixture(scope="session")
def broker() -> Iterator[BrokerHandle]:
    handle = launch_broker()
    yield handle
    handle.close()


@pytest.fixture
def broker_url(broker: BrokerHandle) -> str:
    if not broker.running():
        broker.spawn()
    return broker.url


@pytest.fixture
async def own_broker() -> AsyncIterator[BrokerHandle]:
    handle = await start_broker()
    yield handle
    handle.close()


def _quiet_logs() -> None:
    """Library code logs through structlog; tests keep only warnings and errors, on the current stderr.

    The stream is looked up per logger, not once: pytest swaps and closes the capture streams between tests,
    and a test that runs the CLI configures logging onto its own capture stream.
    """
    import logging
    import sys

    import structlog

    structlog.configure(
        processors=[structlog.processors.add_log_level, structlog.dev.ConsoleRenderer(colors=False)],
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=lambda *args: structlog.PrintLogger(sys.stderr),
        cache_logger_on_first_use=False,
    )
    logging.getLogger().handlers = [logging.StreamHandler()]


_quiet_logs()


@pytest.fixture(autouse=True)
def _fresh_logging() -> Iterator[None]:
    """Every test starts from the quiet configuration, whatever the previous test configured."""
    _quiet_logs()
    yield
