"""One batch run: prepare Elasticsearch, replay dead letters, run the graph,
and summarise what happened from the pipeline's metrics.

``run_batch`` is what ``newsbeam run`` and ``newsbeam demo`` call; it
raises ``RunFailed`` for operational failures (exit 1) and returns a
``RunSummary`` otherwise.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections import Counter
from pathlib import Path

import apache_beam as beam

from newsbeam.config.settings import Settings
from newsbeam.connectors.embedded import state_dir
from newsbeam.connectors.es import EsUnavailable, connect, describe, ping, setup_indices
from newsbeam.pipeline.build import build_pipeline

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


def dead_letter_dir(settings: Settings) -> Path:
    base = settings.elasticsearch.dead_letter_dir
    root = Path(base) if base else state_dir() / "dead-letter"
    return root / settings.elasticsearch.index_prefix


def replay_dead_letters(client, settings: Settings) -> int:
    """Send the documents a failed run left behind; delete each file once sent."""
    from elasticsearch import ApiError, TransportError, helpers

    folder = dead_letter_dir(settings)
    files = sorted(folder.glob("unwritten-*")) if folder.is_dir() else []
    sent = 0
    for path in files:
        actions = []
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                actions.append(
                    {
                        "_op_type": "index",
                        "_index": row["index"],
                        "_id": row["id"],
                        "_source": row["source"],
                    }
                )
        try:
            errors = [
                item
                for ok, item in helpers.streaming_bulk(
                    client,
                    actions,
                    raise_on_error=False,
                    max_retries=settings.elasticsearch.max_retries,
                )
                if not ok
            ]
        except (ApiError, TransportError) as exc:
            raise RunFailed(
                f"cannot replay {path} into Elasticsearch at {describe(settings.elasticsearch)}: "
                f"{type(exc).__name__}; it stays for the next run"
            ) from None
        if errors:
            raise RunFailed(
                f"{len(errors)} documents of {path} were rejected again; it stays for the next run"
            )
        sent += len(actions)
        path.unlink()
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


def _to_dead_letter_line(action) -> str:
    return json.dumps(
        {
            "index": action.index,
            "id": action.id,
            "source": action.source,
            "url": action.url,
        }
    )


def _collect_counters(result) -> dict[str, int]:
    from apache_beam.metrics.metric import MetricsFilter

    counters: Counter[str] = Counter()
    for item in result.metrics().query(MetricsFilter())["counters"]:
        value = item.committed if item.committed is not None else item.attempted
        counters[f"{item.key.metric.namespace}/{item.key.metric.name}"] += int(value or 0)
    return dict(counters)


def run_batch(settings: Settings, pipeline_options, builder=build_pipeline) -> RunSummary:
    """Run the batch pipeline once over ``settings.feeds`` (or another graph
    built by ``builder``, e.g. ``build_reextract_pipeline``)."""
    started = time.monotonic()
    settings = resolve_models(settings)
    es = settings.elasticsearch
    client = connect(es)
    try:
        try:
            ping(client, es)
        except EsUnavailable as exc:
            raise RunFailed(f"{exc}; nothing was fetched or recorded") from None
        setup_indices(client, es.index_prefix)
        replayed = replay_dead_letters(client, settings)
    finally:
        client.close()

    folder = dead_letter_dir(settings)
    with beam.Pipeline(options=pipeline_options) as p:
        built = builder(p, settings)
        _ = (
            built.unwritten
            | "DeadLetterLines" >> beam.Map(_to_dead_letter_line)
            | "DeadLetterFile"
            >> beam.io.WriteToText(
                str(folder / f"unwritten-{int(time.time())}"),
                file_name_suffix=".jsonl",
                shard_name_template="-SS-of-NN",
                skip_if_empty=True,
            )
        )
    result = p.result
    counters = _collect_counters(result)
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
