"""The forget-set scenarios :func:`tasks.inputs.requests.make_requests` draws, by name; a module of its own so that
the command line lists them without importing NumPy, pyarrow or SciPy."""

SCENARIOS = ("users", "items", "both", "interactions", "modality")
