"""The baseline of ``bench/throughput.py``: the same stages as ``newsbeam run``
in a plain sequential script, with the same libraries and no Beam, no delay
between requests and no robots.txt.

    feedparser → requests → trafilatura → MinHash (datasketch) → spaCy → bulk

Usage (the benchmark calls it)::

    python bench/sequential_pipeline.py FEEDS_JSON ES_URL INDEX MODEL

``FEEDS_JSON``: a JSON list of feed URLs.  Prints one JSON line:
``{"articles": <indexed>, "copies": <found by MinHash LSH>}``.
"""

from __future__ import annotations

import json
import re
import sys

_WORD = re.compile(r"\w+")


def main(argv: list[str]) -> int:
    import feedparser
    import requests
    import spacy
    import trafilatura
    from datasketch import MinHash, MinHashLSH
    from elasticsearch import Elasticsearch, helpers

    feeds_file, es_url, index, model = argv
    feeds = json.loads(open(feeds_file, encoding="utf-8").read())
    nlp = spacy.load(model)
    es = Elasticsearch(es_url, request_timeout=60)
    session = requests.Session()
    session.trust_env = False
    lsh = MinHashLSH(threshold=0.8, num_perm=128)
    actions, indexed, copies = [], 0, 0

    def flush():
        nonlocal actions, indexed
        if actions:
            ok, _errors = helpers.bulk(es, actions, refresh=False)
            indexed += ok
            actions = []

    for feed_url in feeds:
        feed = feedparser.parse(session.get(feed_url, timeout=20).content)
        for entry in feed.entries:
            link = entry.get("link")
            if not link:
                continue
            try:
                response = session.get(link, timeout=20)
            except requests.RequestException:
                continue
            if response.status_code != 200:
                continue
            text = trafilatura.extract(response.text, url=link)
            if not text or len(text) < 200:
                continue
            words = [w.lower() for w in _WORD.findall(text)]
            signature = MinHash(num_perm=128)
            for i in range(max(1, len(words) - 4)):
                signature.update(" ".join(words[i : i + 5]).encode("utf-8"))
            similar = lsh.query(signature)
            copies += bool(similar)
            lsh.insert(link, signature)
            doc = nlp(text[:100_000])
            entities: dict[str, list[str]] = {}
            for ent in doc.ents:
                names = entities.setdefault(ent.label_, [])
                if ent.text not in names:
                    names.append(ent.text)
            actions.append(
                {
                    "_index": index,
                    "_id": link,
                    "_source": {
                        "url": link,
                        "title": entry.get("title"),
                        "body": text,
                        "story": similar[0] if similar else link,
                        "entities": entities,
                    },
                }
            )
            if len(actions) >= 250:
                flush()
    flush()
    es.indices.refresh(index=index)
    print(json.dumps({"articles": indexed, "copies": copies}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
