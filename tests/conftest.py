"""Shared fixtures: a real Elasticsearch-API server and the demo site.

Elasticsearch: when ``ES_URL`` is set (with ``ES_API_KEY`` or
``ES_USERNAME``/``ES_PASSWORD`` if needed), the tests use that cluster and
create and delete their own uniquely named indices there; otherwise one
embedded noida-db server is started for the session on a free port, in a
temporary state directory, and stopped at the end.
"""

from __future__ import annotations

import json
import os
import uuid

import pytest

from newsbeam.config.settings import ElasticsearchSettings, load_settings
from newsbeam.connectors.embedded import EmbeddedServer, free_port
from newsbeam.connectors.site_server import SiteServer, demo_site_dir
from tests.es_cleanup import drop_prefix


@pytest.fixture(scope="session")
def es_url(tmp_path_factory):
    if os.environ.get("ES_URL"):
        yield os.environ["ES_URL"]
        return
    root = tmp_path_factory.mktemp("es-state")
    server = EmbeddedServer(port=free_port(), root=root)
    server.start(timeout=60)
    try:
        yield server.url
    finally:
        server.stop()


def _auth() -> dict:
    auth = {}
    if os.environ.get("ES_URL"):
        if os.environ.get("ES_API_KEY"):
            auth["api_key"] = os.environ["ES_API_KEY"]
        elif os.environ.get("ES_USERNAME"):
            auth["username"] = os.environ["ES_USERNAME"]
            auth["password"] = os.environ.get("ES_PASSWORD", "")
        if os.environ.get("ES_CA_CERTS"):
            auth["ca_certs"] = os.environ["ES_CA_CERTS"]
    return auth


@pytest.fixture
def index_prefix(es_url):
    """A unique index prefix; everything under it is deleted afterwards."""
    from newsbeam.connectors.es import connect

    prefix = f"nbtest-{uuid.uuid4().hex[:10]}"
    yield prefix
    client = connect(ElasticsearchSettings(url=es_url, **_auth()))
    try:
        drop_prefix(client, prefix)
    finally:
        client.close()


@pytest.fixture
def es_settings(es_url, index_prefix) -> ElasticsearchSettings:
    return ElasticsearchSettings(url=es_url, index_prefix=index_prefix, **_auth())


@pytest.fixture
def es_client(es_settings):
    from newsbeam.connectors.es import connect

    client = connect(es_settings)
    yield client
    client.close()


@pytest.fixture(scope="session")
def demo_site():
    with SiteServer(demo_site_dir()) as site:
        yield site


@pytest.fixture(scope="session")
def expected(demo_site) -> dict:
    text = (demo_site.root / "expected.json").read_text(encoding="utf-8")
    return json.loads(demo_site.substitute(text))


@pytest.fixture
def demo_settings(demo_site, es_settings, tmp_path):
    """Settings for a run over the demo site into this test's indices."""
    from newsbeam.pipeline.demo import demo_feeds

    return load_settings(
        overrides={
            "feeds": demo_feeds(demo_site),
            "elasticsearch": es_settings.model_dump(),
            "fetch": {"allow_private_hosts": True, "retries": 0, "timeout": 10, "host_delay": 0},
        }
    ).model_copy(
        update={
            "elasticsearch": es_settings.model_copy(update={"dead_letter_dir": str(tmp_path / "dead-letter")})
        }
    )


@pytest.fixture
def record_calls(monkeypatch):
    """``record_calls(owner, name, what)`` wraps ``owner.name`` (a module's function or a
    class's method: ``self`` comes first) so that every call also appends ``what(*args)`` to
    the list returned.  Only for code that runs in this process (in-memory pipelines)."""

    def install(owner, name: str, what) -> list:
        calls: list = []
        real = getattr(owner, name)

        def wrapper(*args, **kwargs):
            calls.append(what(*args, **kwargs))
            return real(*args, **kwargs)

        monkeypatch.setattr(owner, name, wrapper)
        return calls

    return install


@pytest.fixture(autouse=True)
def _in_process_batch_runs(request, monkeypatch):
    """Batch runs (``newsbeam run``, ``demo``, ``reextract``) default to one worker
    process per core; starting them costs seconds per pipeline, so tests that are
    not about the runner run in this process (``--direct_running_mode=in_memory``).
    Tests marked ``default_runner`` get the shipped default; so does every
    ``newsbeam`` started as a subprocess."""
    if request.node.get_closest_marker("default_runner") is None:
        from newsbeam.pipeline import options

        monkeypatch.setattr(options, "BATCH_RUNNING_MODE", "in_memory")


def pytest_collection_modifyitems(config, items):
    """Every test that talks to Elasticsearch is marked ``es`` (``make test-es9``
    reruns them with the 9.x client).

    Then the files that run whole pipelines (``slow``), then the other
    Elasticsearch files, go first, each file's tests kept together and in
    order: pytest-xdist's ``--dist loadfile`` hands files out in this order,
    so the long files start at once on every worker and the short unit-test
    files fill the end, instead of one worker finishing a long file alone.
    """
    for item in items:
        if "es_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.es)
    weight: dict[str, int] = {}
    for item in items:
        rank = 0 if item.get_closest_marker("slow") else 1 if item.get_closest_marker("es") else 2
        weight[item.nodeid.split("::")[0]] = min(rank, weight.get(item.nodeid.split("::")[0], 2))
    items.sort(key=lambda item: weight[item.nodeid.split("::")[0]])
