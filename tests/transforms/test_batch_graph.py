"""The batch graph's shape where it decides how long a run waits (pipeline/build.py)."""

from __future__ import annotations

import apache_beam as beam
import pytest

from newsbeam.config.settings import Settings
from newsbeam.pipeline.build import build_pipeline
from newsbeam.pipeline.options import beam_options

pytestmark = pytest.mark.default_runner  # the shipped runner's graph


def _labels(options_args: list[str]) -> set[str]:
    settings = Settings.model_validate(
        {"feeds": [{"url": f"http://127.0.0.{n}/feed.xml", "name": f"F{n}"} for n in (2, 3, 4)]}
    )
    p = beam.Pipeline(options=beam_options(options_args, batch=True))
    build_pipeline(p, settings)
    return {t.unique_name for t in p.to_runner_api().components.transforms.values()}


def test_the_feeds_are_spread_once_before_they_are_read():
    """ReadFeeds spreads the feeds over the workers (its own grouping by site, which also
    keeps one site's feeds on one worker, polled host_delay apart); a Reshuffle in Create was
    one more stage before the first feed request."""
    labels = _labels(["--direct_num_workers=2"])
    assert any(label.startswith("ReadFeeds/GroupBySite") for label in labels)
    assert not any(label.startswith("Feeds/MaybeReshuffle/Reshuffle") for label in labels)


def test_sites_are_grouped_per_worker_only_on_the_local_multi_process_runner():
    assert any(label.startswith("FetchPages/GroupSites") for label in _labels(["--direct_num_workers=2"]))
    in_memory = _labels(["--direct_running_mode=in_memory"])
    assert any(label.startswith("FetchPages/GroupBySite") for label in in_memory)
    assert not any(label.startswith("FetchPages/GroupSites") for label in in_memory)
