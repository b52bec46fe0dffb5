"""One batch run: prepare Elasticsearch, replay dead letters, run the graph,
and summarise what happened from the pipeline's metrics.

``run_batch`` is what ``newsbeam run`` and ``newsbeam demo`` call; it
raises ``RunFailed`` for operational failures (exit 1) and returns a
``RunSummary`` otherwise.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import Counter
from pathlib import Path

import apache_beam as beam

from newsbeam.config.settings import Settings
from newsbeam.connectors.embedded import state_dir
from newsbeam.connectors.es import EsUnavailable, connect, describe, ping, setup_indices
from newsbeam.pipeline.build import build_pipeline
from newsbeam.pipeline.runners import runner_reports_metrics

__all__ = [
    "RunFailed",
    "RunSummary",
    "dead_letter_dir",
    "replay_dead_letters",
    "run_batch",
]

_LOG = logging.getLogger(__name__)


class RunFailed(Exception):
    """An operational failure: the message is for the operator."""


@dataclasses.dataclass
class RunSummary:
    counters: dict[str, int]
    failures_by_reason: dict[str, int]
    seconds: float
    replayed: int = 0

    def get(self, name: str) -> int:
        return self.counters.get(name, 0)

    @property
    def unwritten(self) -> int:
        return self.get("news.es/unwritten")


def dead_letter_dir(settings: Settings) -> str:
    """Where the sink keeps what it could not write: a local folder or any
    URL Beam's ``FileSystems`` knows (``gs://``, ``s3://``, ``hdfs://``), so
    workers on other hosts write where the next run replays from."""
    base = settings.elasticsearch.dead_letter_dir
    prefix = settings.elasticsearch.index_prefix
    if base and "://" in base:
        # Not pathlib (it folds "gs://b" into "gs:/b"); every URL filesystem joins with "/".
        return f"{base.rstrip('/')}/{prefix}"
    root = Path(base) if base else state_dir() / "dead-letter"
    return str(root / prefix)


def _dead_letter_count(folder: str) -> int:
    """How many documents the dead-letter files under ``folder`` hold."""
    from newsbeam.connectors.es_sink import read_dead_letters

    return sum(len(actions) for _path, actions in read_dead_letters(folder))


def replay_dead_letters(client, settings: Settings) -> int:
    """Send the documents a failed run left behind (same operations, same
    retries as the sink); each file is deleted once sent.  Documents
    rejected for good are recorded in the failures alias."""
    from newsbeam.connectors import es_sink

    es = settings.elasticsearch
    folder = dead_letter_dir(settings)
    policy = es_sink.RetryPolicy.from_settings(es)
    sent, failures, unfinished = es_sink.replay_dead_letters(
        client, folder, policy, failures_alias=es.failures_alias
    )
    if failures:
        failure_actions = [
            es_sink.IndexAction(es.failures_alias, f.id, f.to_document(), url=f.url) for f in failures
        ]
        es_sink.BulkWriter(client, policy).write(failure_actions)
    if unfinished is not None:
        raise RunFailed(
            f"cannot replay {len(unfinished.unwritten)} documents left by an earlier run into "
            f"Elasticsearch at {describe(es)} ({unfinished.error}); they stay in {folder} "
            "for the next run"
        )
    if sent:
        _LOG.info("replayed %d documents left by an earlier run", sent)
    return sent


def resolve_models(settings: Settings) -> Settings:
    """Pin ``ner.model`` to an installed model before the graph is built, so a
    missing model is a configuration error (exit 2) and every worker loads the
    same one."""
    if not settings.ner.enabled:
        return settings
    from newsbeam.config.settings import ConfigError
    from newsbeam.transforms.entities import ModelUnavailableError, resolve_model_name

    try:
        model = resolve_model_name(settings.ner.model)
    except ModelUnavailableError as exc:
        raise ConfigError(f"{exc} (or set ner.enabled: false to run without entities)") from None
    return settings.model_copy(update={"ner": settings.ner.model_copy(update={"model": model})})


def _collect_counters(result) -> dict[str, int]:
    from apache_beam.metrics.metric import MetricsFilter

    counters: Counter[str] = Counter()
    for item in result.metrics().query(MetricsFilter())["counters"]:
        value = item.committed if item.committed is not None else item.attempted
        counters[f"{item.key.metric.namespace}/{item.key.metric.name}"] += int(value or 0)
    return dict(counters)


def _reachable(es) -> bool:
    client = connect(es, max_retries=0, request_timeout=5)
    try:
        ping(client, es)
        return True
    except EsUnavailable:
        return False
    finally:
        client.close()


def feed_validators(client, alias: str) -> dict[str, dict[str, str]]:
    """Each feed's stored ETag/Last-Modified (``news-feeds``), for conditional GETs."""
    response = client.search(
        index=alias,
        query={"match_all": {}},
        source=["feed.url", "http.etag", "http.last_modified"],
        size=10_000,
        ignore_unavailable=True,
    )
    validators = {}
    for hit in response["hits"]["hits"]:
        src = hit.get("_source") or {}
        url = (src.get("feed") or {}).get("url")
        http = src.get("http") or {}
        if url and (http.get("etag") or http.get("last_modified")):
            validators[url] = {k: http[k] for k in ("etag", "last_modified") if http.get(k)}
    return validators


def _refresh(es) -> None:
    """Make this run's writes searchable now, so a run started right after
    this one recognises every URL it indexed (the refresh interval would
    otherwise leave a window of about a second)."""
    from elasticsearch import ApiError, TransportError

    client = connect(es)
    try:
        aliases = ",".join((es.articles_alias, es.failures_alias, es.feeds_alias))
        client.indices.refresh(index=aliases, ignore_unavailable=True)
    except (ApiError, TransportError) as exc:
        _LOG.warning("could not refresh the indices after the run (%s)", type(exc).__name__)
    finally:
        client.close()


def run_batch(settings: Settings, pipeline_options, builder=build_pipeline) -> RunSummary:
    """Run the batch pipeline once over ``settings.feeds`` (or another graph
    built by ``builder``, e.g. ``build_reextract_pipeline``)."""
    started = time.monotonic()
    settings = resolve_models(settings)
    folder = dead_letter_dir(settings)
    es = settings.elasticsearch
    client = connect(es)
    try:
        try:
            ping(client, es)
        except EsUnavailable as exc:
            raise RunFailed(f"{exc}; nothing was fetched or recorded") from None
        setup_indices(client, es.index_prefix)
        replayed = replay_dead_letters(client, settings)
        validators = feed_validators(client, es.feeds_alias)
    finally:
        client.close()
    # The sink itself writes what it could not send, so it survives a failing pipeline.
    es = es.model_copy(update={"dead_letter_dir": folder})
    settings = settings.model_copy(update={"elasticsearch": es})

    try:
        with beam.Pipeline(options=pipeline_options) as p:
            builder(p, settings, validators)
    except Exception:
        if _reachable(es):
            raise
        raise RunFailed(
            f"Elasticsearch at {describe(es)} became unreachable during the run; documents that "
            f"could not be written are kept in {folder} and will be sent first by the next run; "
            "articles not written are not recorded as indexed and will be fetched again"
        ) from None
    _refresh(es)
    result = p.result
    if runner_reports_metrics(result):
        counters = _collect_counters(result)
    else:
        # Beam's DaskRunner reports no metrics: the summary has no counts, and
        # unwritten documents are known by the dead-letter files the sink left.
        _LOG.warning("this runner reports no metrics: the summary shows no counts")
        counters = {"news.es/unwritten": _dead_letter_count(folder)}
    failures = {
        name.split("/", 1)[1]: value
        for name, value in counters.items()
        if name.startswith("news.failures/") and value
    }
    summary = RunSummary(
        counters=counters,
        failures_by_reason=dict(sorted(failures.items())),
        seconds=time.monotonic() - started,
        replayed=replayed,
    )
    if summary.unwritten:
        raise RunFailed(
            f"{summary.unwritten} documents could not be written to Elasticsearch at "
            f"{describe(es)} after retries; they are kept in {folder} and will be sent first "
            "by the next run"
        )
    return summary
