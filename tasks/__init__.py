"""Pipeline steps of mmrecun as plain Python functions (no Airflow import).

Each step takes small JSON-able references (paths, sha256) and returns one. The ``mmrecun`` CLI
(:mod:`tasks.cli`) and the Airflow DAGs call the same steps.
"""
