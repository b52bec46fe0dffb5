"""Runner short names Beam does not know, and what a runner cannot report.

Beam resolves ``--runner`` short names only for the runners it lists in
``StandardOptions.ALL_KNOWN_RUNNERS``; its Dask runner is not among them and
must otherwise be named by its full path.  ``expand_runner_names`` rewrites
the short names below before Beam parses the flags, so
``newsbeam run --runner DaskRunner --dask_client_address HOST:8786`` works.

Dask workers run the code they are sent as pickled functions; they import
newsbeam and its dependencies from their own environment.  Install the same
``newsbeam[dask]`` (same version) on every worker host, as the README's
recipe shows; ``--setup_file`` is for runners that stage packages
(Dataflow, Flink, Spark).
"""

from __future__ import annotations

__all__ = [
    "EXTRA_RUNNERS",
    "expand_runner_names",
    "load_runner_options",
    "runner_name",
    "missing_runner_package",
    "runner_reports_metrics",
]

#: short name (case-insensitive) → Beam's full class path
EXTRA_RUNNERS = {
    "daskrunner": "newsbeam.pipeline.dask_runner.DaskRunner",
    "dask": "newsbeam.pipeline.dask_runner.DaskRunner",
    # Beam's own class drops tagged outputs and unconnected branches; ours fixes that.
    "apache_beam.runners.dask.dask_runner.daskrunner": "newsbeam.pipeline.dask_runner.DaskRunner",
}


def _expand(name: str) -> str:
    return EXTRA_RUNNERS.get(name.strip().lower(), name)


def expand_runner_names(args: list[str]) -> list[str]:
    """``args`` with ``--runner`` short names from ``EXTRA_RUNNERS`` replaced
    by Beam's full class path (both ``--runner X`` and ``--runner=X``)."""
    out: list[str] = []
    expect_value = False
    for arg in args:
        if expect_value:
            out.append(_expand(arg))
            expect_value = False
        elif arg == "--runner":
            out.append(arg)
            expect_value = True
        elif arg.startswith("--runner="):
            out.append("--runner=" + _expand(arg.split("=", 1)[1]))
        else:
            out.append(arg)
    return out


def runner_name(args: list[str]) -> str | None:
    """The value of the last ``--runner`` flag in ``args``."""
    name = None
    for i, arg in enumerate(args):
        if arg == "--runner" and i + 1 < len(args):
            name = args[i + 1]
        elif arg.startswith("--runner="):
            name = arg.split("=", 1)[1]
    return name


def load_runner_options(runner: str | None) -> None:
    """Import the runner's module so its options class (``--dask_client_address``
    and the other ``DaskOptions``) is registered before the flags are checked."""
    if runner and runner.endswith("dask_runner.DaskRunner"):
        import apache_beam.runners.dask.dask_runner  # noqa: F401


def missing_runner_package(runner: str) -> str | None:
    """What to install for ``runner`` when it is missing (Beam's Dask module
    fails with an AttributeError, not an ImportError, without ``distributed``)."""
    import importlib.util

    if runner.endswith("dask_runner.DaskRunner"):
        for module in ("dask", "distributed"):
            if importlib.util.find_spec(module) is None:
                return f"the {module!r} package, which is not installed: pip install 'newsbeam[dask]'"
    return None


def runner_reports_metrics(result) -> bool:
    """Whether ``result.metrics()`` works (Beam's own DaskRunner's raises
    ``NotImplementedError``; newsbeam's, which ``DaskRunner`` names, reports them)."""
    try:
        result.metrics()
    except NotImplementedError:
        return False
    return True
