"""newsbeam: a news-ingestion pipeline on Apache Beam.

The code lives in the top-level folders of the design card (``pipeline/``,
``transforms/``, ``connectors/``, ``config/``); ``setup.py`` installs them as
the subpackages ``newsbeam.pipeline``, ``newsbeam.transforms``,
``newsbeam.connectors`` and ``newsbeam.config`` so that they never collide with
other distributions' top-level names on a worker.
"""

__version__ = "0.1.0"


def _quiet_child_process() -> None:
    """In a child process that newsbeam starts with ``multiprocessing`` (the
    extraction and feed-parsing sandboxes), modules are imported before any of
    our code runs, and Beam warns at import time ("apitools not found") through
    the root logger, which would configure itself and print to the shared
    stderr.  A handler on the root logger of such a child keeps those import
    warnings out of the operator's terminal; the parent process configures its
    own logging (pipeline/cli.py)."""
    import logging
    import sys

    # A spawned child imports the parent's main module as __mp_main__ first;
    # multiprocessing.parent_process() is only set after the child's imports.
    if "__mp_main__" in sys.modules and not logging.getLogger().handlers:
        logging.getLogger().addHandler(logging.NullHandler())


_quiet_child_process()


def _leave_ctrl_c_to_the_parent() -> None:
    """A terminal's Ctrl-C sends SIGINT to every process of its foreground
    group: the sandboxes' children too, which would die each with a
    ``KeyboardInterrupt`` traceback (and a page in flight recorded as a crashed
    extraction).  Their parent stops them; a child that multiprocessing spawned
    ignores SIGINT from the first newsbeam import on, while it still unpickles
    its target (``_inheriting``: multiprocessing's own mark of that phase)."""
    import signal
    import sys

    mp_process = sys.modules.get("multiprocessing.process")
    if mp_process is not None and getattr(mp_process.current_process(), "_inheriting", False):
        try:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        except ValueError:  # not the main thread
            pass


_leave_ctrl_c_to_the_parent()
