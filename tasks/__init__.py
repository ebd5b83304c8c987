"""Pipeline steps of mmrecun as plain Python functions (no Airflow import).

Each step takes small JSON-able references (paths, sha256) and returns one. The ``mmrecun`` CLI
(:mod:`tasks.cli`) and the Airflow DAGs call the same steps.

Rooms: :mod:`tasks.pipeline` (a run and its steps), :mod:`tasks.storage` (store, registry, ledger,
publication), :mod:`tasks.reporting` (gates, request lifecycle, the report), :mod:`tasks.inputs`
(catalogue and request tables); the command line and :mod:`tasks.paths` sit at the top.
"""
