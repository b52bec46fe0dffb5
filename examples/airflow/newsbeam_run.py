"""``newsbeam run`` for Airflow's ``BeamRunPythonPipelineOperator``.

The operator runs ``python3 <py_file> --runner=<runner> --<option>=<value>...``;
this file adds the ``run`` subcommand in front, so every pipeline option
reaches ``newsbeam run`` (newsbeam's own flags such as ``--config`` and Beam's
such as ``--runner``).  Copy it next to the DAG file.
"""

import sys

from newsbeam.pipeline.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", *sys.argv[1:]]))
