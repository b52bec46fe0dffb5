"""The scheduling recipes in examples/: valid for their tool, and every
newsbeam flag they use exists."""

import configparser
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from newsbeam.pipeline.cli import build_parser
from tests.scripts import load_script

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _parses(argv: list[str]) -> None:
    """The newsbeam part of a recipe's command line is accepted as written."""
    args, rest = build_parser().parse_known_args(argv)
    assert not [flag for flag in rest if not flag.startswith("--runner")], rest
    if hasattr(args, "log_format"):
        assert args.log_format in ("text", "json")


def test_cron_line_uses_flock_and_real_flags():
    lines = [
        line
        for line in (EXAMPLES / "cron" / "newsbeam.cron").read_text().splitlines()
        if line.strip() and not line.startswith("#") and "=" not in line.split()[0]
    ]
    assert len(lines) == 1
    fields = lines[0].split(None, 5)
    assert fields[0] == "*/15" and fields[1:5] == ["*", "*", "*", "*"]
    command = fields[5]
    assert "flock -n " in command  # a second run exits at once while one works
    inner = shlex.split(command.split("sh -c ", 1)[1].split(" >>")[0])[0]
    steps = [shlex.split(step) for step in inner.split("&&")]
    _parses(steps[0][1:-1] if steps[0][-1].startswith(">") else steps[0][1:])
    _parses(steps[1][1:])
    # Issue 15 item 7: the embedded server is started (a no-op when it runs) before the run.
    assert steps[0][1:3] == ["es", "start"] and steps[1][1] == "run"


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read_string((EXAMPLES / "systemd" / name).read_text())
    return parser


def test_systemd_units_refer_to_each_other_and_use_real_flags():
    service, timer = _unit("newsbeam.service"), _unit("newsbeam.timer")
    assert service["Service"]["Type"] == "oneshot"
    assert timer["Timer"]["Unit"] == "newsbeam.service"
    _parses(shlex.split(service["Service"]["ExecStart"])[1:])
    _parses(shlex.split(service["Service"]["ExecStartPre"])[1:])
    assert shlex.split(service["Service"]["ExecStartPre"])[1:3] == ["es", "start"]  # issue 15 item 7


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_analyze_verify(tmp_path):
    # verify checks that ExecStart= is executable: point it to this checkout's newsbeam.
    newsbeam = Path(sys.executable).parent / "newsbeam"
    if not newsbeam.exists():
        pytest.skip("no newsbeam executable next to this Python")
    text = (EXAMPLES / "systemd" / "newsbeam.service").read_text()
    text = text.replace("/srv/newsbeam/.venv/bin/newsbeam", str(newsbeam))
    text = text.replace("User=newsbeam", "User=root").replace("Group=newsbeam", "Group=root")
    (tmp_path / "newsbeam.service").write_text(text)
    shutil.copy(EXAMPLES / "systemd" / "newsbeam.timer", tmp_path / "newsbeam.timer")
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", "./newsbeam.service", "./newsbeam.timer"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if "Failed to" in result.stderr and "bus" in result.stderr.lower():
        pytest.skip(f"systemd-analyze cannot run here: {result.stderr.strip()[:200]}")
    assert result.returncode == 0, result.stderr
    assert "newsbeam" not in result.stderr, result.stderr  # no warning about our units


def test_airflow_options_are_newsbeam_flags():
    """Without Airflow: the DAG's options, rendered as the Beam provider does
    (``--key=value``, ``--key`` for True), are accepted by ``newsbeam run``."""
    source = (EXAMPLES / "airflow" / "newsbeam_dag.py").read_text()
    assert "max_active_runs=1" in source and "BeamRunPythonPipelineOperator" in source
    argv = ["run", "--runner=DirectRunner", "--config=/etc/newsbeam.yaml", "--quiet"]
    argv += ["--log-format=json", "--summary-json=/var/lib/newsbeam/last-run.json"]
    _parses(argv)
    for key in ('"config"', '"quiet"', '"log-format"', '"summary-json"'):
        assert key in source


def test_airflow_dag_imports():
    pytest.importorskip("airflow.providers.apache.beam.operators.beam")
    dag = load_script("examples/airflow/newsbeam_dag.py", "newsbeam_dag").dag
    assert dag.max_active_runs == 1
    assert [task.task_id for task in dag.tasks] == ["newsbeam_run"]
