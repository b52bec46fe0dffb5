"""The README's runner recipes use only flags Beam's option parser knows, and
``DaskRunner`` names newsbeam's runner class."""

import re
import shlex
from pathlib import Path

import pytest

from newsbeam.pipeline.options import BadBeamOption, UnknownFlags, beam_options, unknown_beam_flags
from newsbeam.pipeline.runners import expand_runner_names, load_runner_options, runner_name

README = Path(__file__).resolve().parents[2] / "README.md"
# newsbeam's own flags that take a value (the rest of a recipe is Beam's)
NEWSBEAM_FLAGS = {"--feeds", "--es-url", "--config", "--index-prefix"}


def _recipes() -> list[list[str]]:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Running on Dask") :]
    section = section[: section.index("\n## ", 3)]
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", section, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("#", 1)[0].strip()
            if line.startswith("newsbeam run"):
                commands.append(shlex.split(line)[2:])
    return commands


def _beam_part(args: list[str]) -> list[str]:
    out, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg.split("=", 1)[0] in NEWSBEAM_FLAGS:
            skip = "=" not in arg
        else:
            out.append(arg)
    return out


def test_readme_has_a_recipe_per_runner():
    runners = {runner_name(expand_runner_names(_beam_part(c))) for c in _recipes()}
    assert {
        "newsbeam.pipeline.dask_runner.DaskRunner",
        "FlinkRunner",
        "SparkRunner",
        "DataflowRunner",
        None,
    } <= runners


@pytest.mark.parametrize("command", _recipes(), ids=lambda c: " ".join(c)[:60])
def test_every_recipe_flag_is_known_to_beam(command):
    args = expand_runner_names(_beam_part(command))
    load_runner_options(runner_name(args))
    assert unknown_beam_flags(args) == []
    runner = runner_name(args)
    if runner not in (None, "FlinkRunner", "SparkRunner", "DataflowRunner"):
        beam_options(_beam_part(command))  # the runner class loads too


def test_dask_short_names_map_to_the_fixed_runner():
    full = "newsbeam.pipeline.dask_runner.DaskRunner"
    assert expand_runner_names(["--runner", "DaskRunner"]) == ["--runner", full]
    assert expand_runner_names(["--runner=dask"]) == [f"--runner={full}"]
    beam_path = "apache_beam.runners.dask.dask_runner.DaskRunner"
    assert expand_runner_names([f"--runner={beam_path}"]) == [f"--runner={full}"]
    assert expand_runner_names(["--runner=FlinkRunner"]) == ["--runner=FlinkRunner"]
    options = beam_options(["--runner", "DaskRunner", "--dask_client_address", "tcp://127.0.0.1:1"])
    assert options.get_all_options()["address"] == "tcp://127.0.0.1:1"


def test_dask_flag_without_the_dask_runner_is_still_known_after_loading():
    with pytest.raises(UnknownFlags):
        beam_options(["--dask_client_adress", "tcp://127.0.0.1:1"])


def test_missing_dask_names_the_extra(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "distributed" else real(n, *a)
    )
    with pytest.raises(BadBeamOption, match=r"newsbeam\[dask\]"):
        beam_options(["--runner", "DaskRunner"])
