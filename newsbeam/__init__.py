"""newsbeam: a news-ingestion pipeline on Apache Beam.

The code lives in the top-level folders of the design card (``pipeline/``,
``transforms/``, ``connectors/``, ``config/``); ``setup.py`` installs them as
the subpackages ``newsbeam.pipeline``, ``newsbeam.transforms``,
``newsbeam.connectors`` and ``newsbeam.config`` so that they never collide with
other distributions' top-level names on a worker.
"""

__version__ = "0.1.0"
