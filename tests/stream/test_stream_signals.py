"""``newsbeam stream`` as a real process: clean stop on SIGTERM mid-cycle,
a second signal stopping at once, a restart that neither duplicates nor
loses, and the writer lease refusing a second writer meanwhile."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.stream.live_site import LiveSite

pytestmark = [pytest.mark.es, pytest.mark.slow]


def _write_config(tmp_path, site, es_settings):
    # A long fetch timeout: the first test holds page requests for as long as its checks take.
    fetch = {"retries": 0, "timeout": 120, "host_delay": 0}
    return site.write_config(tmp_path, stream={"stop_timeout": 120}, fetch=fetch)


def _start(config, es_settings, tmp_path, *extra):
    env = {**os.environ, "NEWSBEAM_STATE_DIR": str(tmp_path / "state"), "PYTHONUNBUFFERED": "1"}
    args = [sys.executable, "-m", "newsbeam", "stream", "--config", str(config)]
    args += ["--es-url", es_settings.url, "--index-prefix", es_settings.index_prefix]
    args += ["--allow-private-hosts", "--poll-interval", "2", *extra]
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _urls(client, alias):
    client.indices.refresh(index=alias)
    hits = client.search(index=alias, query={"match_all": {}}, size=1000)["hits"]["hits"]
    return [hit["_source"]["url"] for hit in hits]


def test_sigterm_mid_cycle_finishes_it_and_a_restart_adds_the_rest(es_settings, es_client, tmp_path):
    with LiveSite(page_delay=0.7) as site:
        site.add(5)
        site.hold_after(1)  # the cycle stays in flight until the signal, however loaded the machine
        config = _write_config(tmp_path, site, es_settings)
        stream = _start(config, es_settings, tmp_path)
        try:
            _wait_for(lambda: len(site.served) >= 1, 180, "the first page request")
            # meanwhile a second writer is refused, naming the holder
            run = subprocess.run(
                [sys.executable, "-m", "newsbeam", "run", "--config", str(config), "--es-url",
                 es_settings.url, "--index-prefix", es_settings.index_prefix, "--allow-private-hosts"],
                env={**os.environ, "NEWSBEAM_STATE_DIR": str(tmp_path / "state")},
                capture_output=True, text=True, timeout=120,
            )  # fmt: skip
            assert run.returncode == 1, run.stderr
            assert f"pid {stream.pid}" in run.stderr and "stream" in run.stderr, run.stderr
            assert len(site.served) < 5, "the cycle ended before the signal"
            stream.send_signal(signal.SIGTERM)
            time.sleep(0.5)  # the signal lands while pages are held: mid-cycle
            site.release()
            _out, err = stream.communicate(timeout=120)
        finally:
            site.release()
            if stream.poll() is None:
                stream.kill()
        assert stream.returncode == 0, err
        assert "finishing the cycle in flight" in err and "stream stopped after 1 cycles" in err, err
        # the cycle in flight was finished and written: every item, once
        urls = _urls(es_client, es_settings.articles_alias)
        assert sorted(urls) == sorted(site.url(n) for n in range(5))

        # A second signal stops at once, mid-cycle: nothing written is lost, nothing is written twice.
        site.add(5)
        served = len(site.served)
        stream = _start(config, es_settings, tmp_path, "--poll-interval", "1")
        try:
            _wait_for(lambda: len(site.served) > served, 180, "a page request of the second stream")
            stream.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            stream.send_signal(signal.SIGTERM)
            _out, err = stream.communicate(timeout=30)
        finally:
            if stream.poll() is None:
                stream.kill()
        assert stream.returncode == 128 + signal.SIGTERM, err
        assert "again: stopping at once" in err, err

        # The restart (its lease left behind by a dead pid of this host is taken over) adds the rest.
        stream = _start(config, es_settings, tmp_path, "--poll-interval", "1")
        try:
            _wait_for(lambda: len(_urls(es_client, es_settings.articles_alias)) >= 10, 180, "all ten items")
            stream.send_signal(signal.SIGTERM)
            _out, err = stream.communicate(timeout=120)
        finally:
            if stream.poll() is None:
                stream.kill()
        assert stream.returncode == 0, err
        urls = _urls(es_client, es_settings.articles_alias)
        assert sorted(urls) == sorted(site.url(n) for n in range(10))  # each once


def test_sigterm_while_elasticsearch_hangs_stops_within_seconds_not_the_stop_timeout(
    es_settings, es_client, tmp_path
):
    """Elasticsearch stopped answering (SIGSTOP, a network dropping packets) and the operator
    stops the stream: each request of the cycle in flight waited out the client's timeout and
    retries (90 s), so the stop took the whole stop_timeout (300 s by default) for a cycle that
    could write nothing.  It now stops once the cluster has not answered for 15 s, saying why."""
    from tests.faults.proxy import FaultProxy, Stall

    with LiveSite() as site, FaultProxy(es_settings.url) as proxy:
        site.add(2)
        config = site.write_config(tmp_path, stream={"stop_timeout": 240})
        proxied = es_settings.model_copy(update={"url": proxy.url})
        stream = _start(config, proxied, tmp_path)
        try:
            alias = es_settings.articles_alias
            indexed = lambda: es_client.indices.exists_alias(name=alias) and len(_urls(es_client, alias)) >= 2  # noqa: E731
            _wait_for(indexed, 180, "the first cycle")
            proxy.add(Stall(seconds=600))
            time.sleep(1)
            stream.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            _out, err = stream.communicate(timeout=120)
            took = time.monotonic() - signalled
        finally:
            if stream.poll() is None:
                stream.kill()
                stream.wait()
    assert stream.returncode == 128 + signal.SIGTERM, err
    assert took < 60, (took, err)
    assert f"Elasticsearch at {proxy.url} has not answered for" in err, err
    assert "stopping now instead of waiting for the cycle in flight" in err, err
    assert "Traceback" not in err, err
