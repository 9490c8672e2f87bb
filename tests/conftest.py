import pytest
from django.db import connection

from tests import handlers


@pytest.fixture(autouse=True)
def _reset_handler_calls():
    handlers.CALLS.clear()
    yield
    handlers.CALLS.clear()


@pytest.fixture(autouse=True)
def _stop_stream_threads():
    """A test that read an event stream may have started the PostgreSQL listener and the
    stream readers: their connections must close before the test database is dropped."""
    yield
    from scoria_django.streaming import notifications, reads

    notifications.hub().stop()
    reads.readers.stop()


def is_postgres():
    return connection.vendor == "postgresql"


postgres_only = pytest.mark.skipif(
    "not config.getoption('--ds', default=None) and False",
    reason="placeholder",
)


@pytest.fixture
def require_postgres():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises writers, so there is no race to show")


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """After the test databases exist: answer the routed database's feature probes once.

    System checks run against every database (``scoria_verify`` passes them all) and ask
    ``supports_json_field``, which SQLite answers with a query. A test that does not use
    ``scoria_routed`` may not query it, so the answer is cached here, while queries are
    allowed (tests/test_routing.py is the only test that writes there).
    """
    from django.db import connections

    with django_db_blocker.unblock():
        connections["scoria_routed"].features.supports_json_field  # noqa: B018 - cached
