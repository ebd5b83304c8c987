"""A pipeline run: its workspace (:mod:`~tasks.pipeline.run`), the steps the DAGs call (:mod:`~tasks.pipeline.steps`),
and one module per step: ingest, validate, forget set, train, unlearn, evaluate."""
