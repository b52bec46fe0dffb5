"""A child process that newsbeam's sandboxes spawn leaves Ctrl-C to its
parent: a terminal's SIGINT reaches the whole process group, and a child
dying of it prints a KeyboardInterrupt traceback (and its page in flight
would count as a crashed extraction).  The process that imports newsbeam
itself keeps Python's KeyboardInterrupt."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap


def test_a_spawned_child_ignores_sigint_and_its_parent_does_not(tmp_path):
    (tmp_path / "target.py").write_text(
        textwrap.dedent(
            """
            import signal

            import newsbeam  # noqa: F401


            def report():
                print("child", signal.getsignal(signal.SIGINT) == signal.SIG_IGN)
            """
        )
    )
    (tmp_path / "parent.py").write_text(
        textwrap.dedent(
            """
            import multiprocessing
            import signal

            import target

            if __name__ == "__main__":
                print("parent", signal.getsignal(signal.SIGINT) == signal.SIG_IGN, flush=True)
                child = multiprocessing.get_context("spawn").Process(target=target.report)
                child.start()
                child.join(120)
                raise SystemExit(child.exitcode)
            """
        )
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [sys.executable, str(tmp_path / "parent.py")], capture_output=True, text=True, timeout=180, env=env
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:2] == ["parent False", "child True"]
