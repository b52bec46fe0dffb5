"""A child process newsbeam spawns (the extraction and feed-parsing sandboxes)
must not print Beam's import-time warnings to the operator's terminal."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_a_spawned_child_importing_beam_prints_nothing(tmp_path):
    script = tmp_path / "parent.py"
    script.write_text(
        textwrap.dedent(
            """
            import importlib
            import multiprocessing

            if __name__ == "__main__":
                ctx = multiprocessing.get_context("spawn")
                child = ctx.Process(target=importlib.import_module, args=("newsbeam.connectors.feeds",))
                child.start()
                child.join(120)
                raise SystemExit(child.exitcode)
            """
        )
    )
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert "apitools" not in proc.stderr
    assert proc.stderr.strip() == ""
