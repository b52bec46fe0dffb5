"""Beam's own flags: pass them through, refuse the ones nobody knows.

``PipelineOptions`` silently discards flags it cannot parse; a typo such
as ``--runer=FlinkRunner`` would then run on the DirectRunner.  We parse the
rest of the command line with every registered options class, exactly as
Beam does, and report what is left as a usage error.
"""

from __future__ import annotations

import argparse
import ast
import logging
import os
import re

__all__ = [
    "BadBeamOption",
    "UnknownFlags",
    "beam_options",
    "default_workers",
    "gives_flag",
    "logger_levels",
    "unknown_beam_flags",
    "usable_cores",
    "worker_log_filter",
]


_LOG = logging.getLogger(__name__)


class UnknownFlags(Exception):
    pass


class BadBeamOption(Exception):
    """A Beam flag with a value Beam cannot use; the message names the flag."""


def _all_option_classes():
    from apache_beam.options.pipeline_options import PipelineOptions

    seen, stack = [], list(PipelineOptions.__subclasses__())
    while stack:
        cls = stack.pop()
        if cls not in seen:
            seen.append(cls)
            stack.extend(cls.__subclasses__())
    return seen


def unknown_beam_flags(args: list[str]) -> list[str]:
    """The flags in ``args`` that no Beam options class declares."""
    from apache_beam.options.pipeline_options import _BeamArgumentParser

    parser = _BeamArgumentParser(allow_abbrev=False, add_help=False, exit_on_error=False)
    for cls in _all_option_classes():
        try:
            cls._add_argparse_args(parser)
        except argparse.ArgumentError:
            continue  # the same flag registered by two classes
    try:
        _known, unknown = parser.parse_known_args(args)
    except argparse.ArgumentError as exc:
        raise BadBeamOption(str(exc)) from None
    return [arg for arg in unknown if arg.startswith("-")] or [a for a in unknown]


def _check_runner(options) -> None:
    from apache_beam.options.pipeline_options import StandardOptions
    from apache_beam.runners.runner import create_runner

    from newsbeam.pipeline.runners import missing_runner_package

    name = options.view_as(StandardOptions).runner
    if not name:
        return
    missing = missing_runner_package(name)
    if missing:
        raise BadBeamOption(f"--runner={name} needs {missing}")
    try:
        create_runner(name)
    except ValueError as exc:
        raise BadBeamOption(f"--runner={name}: {str(exc).splitlines()[0]}") from None
    except ImportError as exc:
        raise BadBeamOption(
            f"--runner={name} needs packages that are not installed ({exc.name or exc}); "
            "for Dataflow: pip install 'apache-beam[gcp]'; for Dask: pip install 'newsbeam[dask]'"
        ) from None


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity, else the count)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


#: Peak memory of one worker process of a batch run with its extraction and feed
#: sandboxes, NER on (``bench/runner_memory.py``: about 0.5 GB each), with room to spare,
#: and of the driver besides.
WORKER_BYTES = 640 * 2**20
DRIVER_BYTES = 320 * 2**20


def _cgroup_room() -> int | None:
    """Bytes this process's memory cgroup still allows (v2, then v1), if limited."""
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),
    ):
        try:
            with open(limit_file) as limit, open(usage_file) as usage:
                text = limit.read().strip()
                if text == "max" or int(text) >= 2**60:
                    return None
                return max(0, int(text) - int(usage.read().strip()))
        except (OSError, ValueError):
            continue
    return None


def available_memory() -> int | None:
    """Bytes of memory a run may still take: the machine's available memory,
    or less when a cgroup (a container, a systemd unit) limits this process."""
    try:
        import psutil

        free = psutil.virtual_memory().available
    except Exception:  # psutil missing or unable to read /proc: do not cap
        free = None
    room = _cgroup_room()
    known = [value for value in (free, room) if value is not None]
    return min(known) if known else None


def default_workers() -> int:
    """Worker processes of a multi-process batch run: one per usable core,
    fewer when the memory available would not hold that many (each worker
    loads its own extraction and NER models); at least one."""
    cores = usable_cores()
    memory = available_memory()
    if memory is None:
        return cores
    fits = max(1, (memory - DRIVER_BYTES) // WORKER_BYTES)
    if fits < cores:
        _LOG.info(
            "%d worker processes, not one per core (%d): %.1f GB of memory available, about %.1f GB "
            "each; --direct_num_workers=N sets the number",
            fits,
            cores,
            memory / 2**30,
            WORKER_BYTES / 2**30,
        )
    return int(min(cores, fits))


def gives_flag(args: list[str], flag: str) -> bool:
    """Whether ``args`` give ``flag`` (``--flag`` or ``--flag=value``)."""
    return any(arg == flag or arg.startswith(flag + "=") for arg in args)


#: Libraries that log every request or page at INFO.
_CHATTY = ("elastic_transport", "urllib3", "trafilatura", "htmldate", "courlan")


def logger_levels(verbose: bool) -> dict[str, str]:
    """Log levels by logger, the same in this process (pipeline/cli.py) and in
    worker processes (``--sdk_harness_log_level_overrides``).  Beam's own
    records are the driver's business: see ``worker_log_filter``."""
    levels = dict.fromkeys(_CHATTY, "WARNING" if verbose else "ERROR")
    levels["newsbeam"] = "DEBUG" if verbose else "INFO"
    return levels


LOCAL_RUNNER = "newsbeam.pipeline.local_runner.LocalRunner"

#: ``--direct_running_mode`` of batch runs without ``--runner`` when the flags
#: do not give one (tests/conftest.py pins ``in_memory`` for tests not about it).
BATCH_RUNNING_MODE = "multi_processing"


def beam_options(args: list[str], *, batch: bool = False, verbose: bool = False, **overrides):
    """``PipelineOptions`` from Beam flags, after refusing unknown ones.

    ``batch`` (``run``, ``demo``, ``reextract``): without ``--runner`` (and
    without ``--streaming``) the pipeline runs on ``LocalRunner``
    (pipeline/local_runner.py) in ``multi_processing`` mode with one worker
    process per usable core (fewer if memory is short: ``default_workers``); ``--direct_running_mode`` and
    ``--direct_num_workers`` each override their half (``in_memory`` runs in
    this process, with one worker unless told otherwise);
    ``--runner=DirectRunner`` is Beam's own, with Beam's defaults.
    ``verbose``: workers log at INFO (WARNING otherwise) unless
    ``--default_sdk_harness_log_level`` is given."""
    from apache_beam.options.pipeline_options import PipelineOptions

    from newsbeam.pipeline import runners

    args = runners.expand_runner_names(args)
    runner = runners.runner_name(args)
    missing = runners.missing_runner_package(runner) if runner else None
    if missing:
        raise BadBeamOption(f"--runner={runner} needs {missing}")
    runners.load_runner_options(runner)
    unknown = unknown_beam_flags(args)
    if unknown:
        raise UnknownFlags(" ".join(unknown))
    if batch and runner is None and not gives_flag(args, "--streaming"):
        from apache_beam.options.pipeline_options import DirectOptions

        overrides.setdefault("runner", LOCAL_RUNNER)
        mode = BATCH_RUNNING_MODE
        if gives_flag(args, "--direct_running_mode"):
            mode = PipelineOptions(args).view_as(DirectOptions).direct_running_mode
        overrides.setdefault("direct_running_mode", mode)
        if not gives_flag(args, "--direct_num_workers"):
            workers = {"in_memory": 1, "multi_threading": usable_cores()}.get(mode) or default_workers()
            overrides.setdefault("direct_num_workers", workers)
    # Worker processes (multi_processing, portable runners) log at the levels this process does.
    if not gives_flag(args, "--default_sdk_harness_log_level"):
        overrides.setdefault("default_sdk_harness_log_level", "INFO" if verbose else "WARNING")
    if not gives_flag(args, "--sdk_harness_log_level_overrides"):
        overrides.setdefault("sdk_harness_log_level_overrides", logger_levels(verbose))
    options = PipelineOptions(args, **overrides)
    _check_runner(options)
    return options


_FIELD = {name: re.compile(name + r': "((?:[^"\\]|\\.)*)"') for name in ("message", "log_location")}


def _field(text: str, name: str) -> str:
    found = _FIELD[name].search(text)
    if not found:
        return ""
    try:
        return ast.literal_eval(f'"{found.group(1)}"')
    except (ValueError, SyntaxError):
        return found.group(1)


class _WorkerLogFilter(logging.Filter):
    """Worker processes (``multi_processing``) send their log records to the
    driver, which logs each as ``Worker: <the whole LogEntry>`` with its
    traceback.  This keeps newsbeam's own records as one readable line
    (``WARNING worker newsbeam/connectors/es_sink.py:430: ...``) and drops
    Beam's (a failed bundle with its traceback: the run reports the failure
    itself) unless ``verbose``."""

    def __init__(self, verbose: bool):
        super().__init__()
        self._verbose = verbose

    def filter(self, record: logging.LogRecord) -> bool:
        text = str(record.args[0]) if record.args else record.getMessage()
        location = _field(text, "log_location")
        if "apache_beam" in location and not self._verbose:
            return False
        if "apache_beam" not in location and not logging.getLogger("newsbeam").isEnabledFor(record.levelno):
            return False  # newsbeam run --quiet
        message = _field(text, "message") or text
        if not self._verbose:
            message = message.split("\n", 1)[0]
        where = "/".join(location.replace("\\", "/").split("/")[-2:])
        record.name = f"worker {where}" if where else "worker"
        record.msg, record.args = "%s", (message,)
        return True


def worker_log_filter(verbose: bool) -> None:
    """Install the filter above on the logger Beam forwards worker records to."""
    forwarded = logging.getLogger("apache_beam.runners.portability.local_job_service")
    forwarded.setLevel(logging.DEBUG if verbose else logging.WARNING)
    for old in [f for f in forwarded.filters if isinstance(f, _WorkerLogFilter)]:
        forwarded.removeFilter(old)
    forwarded.addFilter(_WorkerLogFilter(verbose))
