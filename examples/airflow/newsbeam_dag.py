"""Airflow DAG: one ``newsbeam run`` every 15 minutes with the Apache Beam
provider's ``BeamRunPythonPipelineOperator``.

Requires ``apache-airflow-providers-apache-beam`` and newsbeam installed in
the environment the task runs in; copy this file and ``newsbeam_run.py``
into the DAG folder.  The operator runs
``python3 newsbeam_run.py --runner=DirectRunner --config=... --quiet ...``
(``newsbeam_run.py`` puts the ``run`` subcommand in front), so the keys of
``pipeline_options`` are newsbeam's flags or Beam's options, spelled as on
the command line (``log-format``, ``summary-json``).

When the previous run still works: ``max_active_runs=1`` makes the
scheduler wait, never two writers at once; ``catchup=False`` drops missed
intervals instead of replaying them (the next run picks up whatever is
new).  A run that exits 1 (see ``newsbeam status``) fails the task; the
task is not retried within the interval (``retries: 0``), the next interval
tries again.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow import DAG
from airflow.providers.apache.beam.operators.beam import BeamRunPythonPipelineOperator

NEWSBEAM_CONFIG = os.environ.get("NEWSBEAM_CONFIG", "/etc/newsbeam.yaml")
STATE_DIR = os.environ.get("NEWSBEAM_STATE_DIR", "/var/lib/newsbeam")

with DAG(
    dag_id="newsbeam",
    description="poll every feed once, index new articles into Elasticsearch",
    schedule=timedelta(minutes=15),
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 0, "execution_timeout": timedelta(hours=1)},
    tags=["newsbeam"],
) as dag:
    BeamRunPythonPipelineOperator(
        task_id="newsbeam_run",
        runner="DirectRunner",
        py_file=os.path.join(os.path.dirname(os.path.abspath(__file__)), "newsbeam_run.py"),
        pipeline_options={
            "config": NEWSBEAM_CONFIG,
            "quiet": True,
            "log-format": "json",
            "summary-json": f"{STATE_DIR}/last-run.json",
        },
        py_interpreter="python3",
    )
