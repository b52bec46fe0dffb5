"""The single-worker step of ClusterStories (``Resolve``) at scale.

Builds what ``Resolve`` receives for N synthetic articles — (id, published)
per article, verified copy edges, indexed matches and digest ids, exactly the
side inputs of the graph — and times the step, reporting its peak memory
(resident set growth from before the inputs are built, so the inputs count).

Copy rates (defaults, roughly what wire-heavy news feeds show): 60 % of the
articles are alone, the rest in stories of 2–30 copies (sizes drawn from a
Zipf-like law); within a story each copy is verified against up to 4 others;
0.1 % of the articles are digests; 5 % match a cluster indexed earlier.

    python bench/resolve.py                  # 1,000,000 articles
    python bench/resolve.py --articles 200000

Targets (issue 11): ≤ 1 GB peak and ≤ 60 s on one core at 1,000,000.
Synthetic data; no data set needed.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def synthetic_inputs(n: int, seed: int = 7):
    from newsbeam.transforms.stories import IndexedCluster

    rng = random.Random(seed)
    ids = [hashlib.sha256(f"https://news.example/{i}".encode()).hexdigest()[:32] for i in range(n)]
    nodes = []
    for i, doc_id in enumerate(ids):
        published = (
            None if i % 50 == 0 else f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00Z"
        )
        nodes.append((doc_id, published))
    edges, matches, digests = [], [], []
    i = int(n * 0.6)
    while i < n:
        size = min(n - i, 2 + int(rng.paretovariate(1.2)) % 29)
        members = ids[i : i + size]
        for x, a in enumerate(members):
            for b in rng.sample(members[x + 1 :], min(4, len(members) - x - 1)):
                edges.append((min(a, b), max(a, b)))
        if rng.random() < 0.05 * size:
            cluster_id = hashlib.sha256(f"old-{i}".encode()).hexdigest()[:32]
            matches.append(
                (members[0], IndexedCluster(cluster_id, cluster_id, "2023-12-31T00:00:00Z", (cluster_id,)))
            )
        i += size
    for doc_id in rng.sample(ids, n // 1000):
        digests.append((doc_id, None))  # (id, None): a digest; (id, partners): a shared excerpt
    return nodes, edges, matches, digests


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--articles", type=int, default=1_000_000, help="how many articles (default 1,000,000)"
    )
    args = parser.parse_args(argv)
    if args.articles < 1:
        parser.error("--articles: expected a positive number")

    from newsbeam.transforms.stories import _resolve

    before = _rss_mb()
    started = time.process_time()
    nodes, edges, matches, digests = synthetic_inputs(args.articles)
    built = time.process_time() - started
    inputs_mb = _rss_mb() - before
    started, wall = time.process_time(), time.monotonic()
    stories, updates = _resolve(nodes, edges, matches, digests)
    cpu, wall = time.process_time() - started, time.monotonic() - wall
    peak = _peak_mb() - before
    clusters = len({s["cluster_id"] for s in stories.values()})
    print(f"articles            {len(nodes):>12,}")
    print(f"verified edges      {len(edges):>12,}")
    print(f"indexed matches     {len(matches):>12,}")
    print(f"digests             {len(digests):>12,}")
    print(f"clusters            {clusters:>12,}   (updates of indexed clusters: {len(updates):,})")
    print(f"inputs (side input) {inputs_mb:>12,.0f} MB  (built in {built:.1f} s CPU, outside the step)")
    print(f"Resolve CPU time    {cpu:>12,.1f} s   (wall {wall:.1f} s; target <= 60 s)")
    print(f"Resolve peak memory {peak:>12,.0f} MB  (inputs included; target <= 1024 MB)")
    ok = peak <= 1024 and cpu <= 60
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
