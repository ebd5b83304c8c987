"""Every run parameter, defined once: its JSON type, default, choices, bounds, pattern and one-line description.

The DAGs' ``Param``s (``dags/mmrecun_params.py``), the command line's options (``tasks/cli.py``) and the run
record (``run.json``, written by :func:`tasks.pipeline.steps.begin` through :func:`check`) are built from
:data:`RUN_PARAMS`. A run is of kind ``train`` or ``unlearn``; each parameter names the kinds that take it.
Only the standard library is imported here: DAG files import this module and must parse fast.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass

from schemas.errors import BadParameter

KINDS = ("train", "unlearn")
BOTH = frozenset(KINDS)
TRAIN = frozenset({"train"})
UNLEARN = frozenset({"unlearn"})


@dataclass(frozen=True)
class RunParam:
    """One run parameter. ``types``: JSON types (``"null"`` among them: None is allowed); ``default``: its value
    when the run does not give it (``required``: the run must give it); ``choices``, ``minimum`` / ``maximum``
    (``exclusive_minimum``: the minimum itself is refused), ``pattern`` (the whole string), ``min_length``,
    ``format`` (``"date-time"``: ISO 8601): what a value must meet; ``kinds``: the run kinds that take it;
    ``cli``: the command line's option made from it (None: none; the input locations are each command's own
    ``--data`` / ``--requests`` paths)."""

    name: str
    types: tuple[str, ...]
    default: object
    description: str
    kinds: frozenset[str] = BOTH
    choices: tuple | None = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    pattern: str | None = None
    min_length: int | None = None
    format: str | None = None
    required: bool = False
    cli: str | None = None


def _location(name: str, description: str, kinds=BOTH, default=None, nullable=False, required=False) -> RunParam:
    types = ("null", "string") if nullable else ("string",)
    return RunParam(name, types, default, description, kinds, min_length=1, required=required)


def _gate(name: str, default: float | None, description: str, cli: str, maximum: float = 1, exclusive_minimum: bool = False) -> RunParam:
    types = ("number",) if default is not None else ("null", "number")
    return RunParam(name, types, default, description, minimum=0, maximum=maximum, exclusive_minimum=exclusive_minimum, cli=cli)


RUN_PARAMS: dict[str, RunParam] = {
    p.name: p
    for p in (
        _location("data", "interactions + item_features: folder or s3://bucket/prefix", required=True),
        _location("requests", "licence_revocations / erasure_requests: folder or s3:// (empty: none)", UNLEARN, nullable=True),
        _location("store", "where models, reports and the ledger are published: folder or s3://", default="var/store"),
        RunParam("endpoint_url", ("null", "string"), None, "S3 endpoint (empty: boto3's environment)", cli="--endpoint-url"),
        RunParam(
            "cutoff",
            ("null", "string"),
            None,
            "the run's time: requests effective and interactions made by then; ISO 8601, UTC unless a zone is given "
            "(empty: the run's logical date, or now)",
            format="date-time",
            cli="--cutoff",
        ),
        RunParam("model_name", ("string",), "mgcn", "registry name of the model", pattern="[a-z][a-z0-9_-]{0,63}"),
        RunParam("model", ("string",), "mgcn", "architecture of the model to train", TRAIN, choices=("mgcn", "lightgcn"), cli="--model"),
        RunParam("train_epochs", ("integer",), 1000, "epoch cap (early stopping decides)", TRAIN, minimum=1, maximum=1000, cli="--epochs"),
        RunParam(
            "method",
            ("string",),
            "mmrecun",
            "unlearning method (gold: retrain from scratch on the retained data)",
            UNLEARN,
            choices=("mmrecun", "mmrecun-paper", "finetune", "neggrad", "gold"),
            cli="--method",
        ),
        RunParam("alpha", ("number",), 0.5, "MMRecUN weight of reverse BPR vs retain BPR", UNLEARN, minimum=0, maximum=1, cli="--alpha"),
        RunParam(
            "max_epochs",
            ("null", "integer"),
            None,
            "epoch cap of an approximate method (empty: the method's own, 50; mmrecun-paper: a fixed 20)",
            UNLEARN,
            minimum=1,
            maximum=1000,
            cli="--max-epochs",
        ),
        RunParam("run_gold", ("boolean",), False, "also retrain from scratch (Gold) and compare", UNLEARN, cli="--with-gold"),
        RunParam("seed", ("integer",), 999, "random seed of training and unlearning", minimum=0, cli="--seed"),
        RunParam("device", ("string",), "auto", "auto, cpu or cuda[:N]", pattern="auto|cpu|cuda(:[0-9]+)?", cli="--device"),
        RunParam("dry_run", ("boolean",), False, "run every step but publish"),
        _gate(
            "gate_retain_ratio",
            0.95,
            "gate: retain validation Recall@20 >= this share of the original model's",
            "--retain-ratio",
            exclusive_minimum=True,
        ),
        _gate(
            "gate_erasure_margin",
            0.10,
            "gate: membership AUC of erased interactions above the original model's for held-out ones with equally popular items, at most",
            "--erasure-margin",
        ),
        _gate(
            "gate_revoked_exposure_max",
            0.01,
            "gate: revoked items per user in the raw model's top-20, before the serving filter",
            "--revoked-exposure-max",
            maximum=1000,
        ),
        _gate("gate_content_tolerance", 0.05, "gate: content trace above the retained data's own, at most", "--content-tolerance"),
        _gate("gate_forget_recall_max", None, "gate: optional ceiling on forget Recall@20", "--forget-recall-max"),
        RunParam(
            "deadline_days",
            ("integer",),
            30,
            "an effective request waiting longer than this is overdue (GDPR Art. 12(3): one month)",
            minimum=1,
            maximum=366,
        ),
        RunParam(
            "require_approval",
            ("boolean",),
            False,
            "wait for a person to approve the report in the UI before CURRENT moves",
            UNLEARN,
        ),
    )
}
GATE_PREFIX = "gate_"


def params_of(kind: str) -> dict[str, RunParam]:
    """The parameters a run of ``kind`` (``train`` or ``unlearn``) takes, in table order."""
    if kind not in KINDS:
        raise BadParameter(f"unknown run kind {kind!r}; choose one of {list(KINDS)}")
    return {name: p for name, p in RUN_PARAMS.items() if kind in p.kinds}


def defaults(kind: str) -> dict:
    """``{name: default}`` of the parameters of a ``kind`` run that have one (``data`` has none)."""
    return {name: p.default for name, p in params_of(kind).items() if not p.required}


def gate_defaults() -> dict:
    """``{field: default}`` of the report's quality gates (the ``gate_<field>`` parameters)."""
    return {name.removeprefix(GATE_PREFIX): p.default for name, p in RUN_PARAMS.items() if name.startswith(GATE_PREFIX)}


def _bounds(p: RunParam, value) -> str:
    """The bound ``value`` breaks, or the full range when it breaks none (a value of the wrong type)."""
    low = "(" if p.exclusive_minimum else "["
    if "number" in p.types and p.minimum is not None and p.maximum is not None:
        return f" in {low}{p.minimum:g}, {p.maximum:g}]"
    if p.maximum is not None and (p.minimum is None or (isinstance(value, int | float) and value > p.maximum)):
        return f" <= {p.maximum:g}"
    return "" if p.minimum is None else f" {'>' if p.exclusive_minimum else '>='} {p.minimum:g}"


def _is(kind: str, value) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool) or isinstance(value, float) and value.is_integer()
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    return {"null": value is None, "string": isinstance(value, str), "boolean": isinstance(value, bool)}[kind]


def problem(p: RunParam, value) -> str | None:
    """What ``value`` lacks to be a value of ``p`` (``"must be ..."``), or None when it is one."""
    if value is None:
        return None if "null" in p.types else f"must be {_wanted(p, value)}"
    if not any(_is(t, value) for t in p.types if t != "null"):
        return f"must be {_wanted(p, value)}"
    if p.choices is not None and value not in p.choices:
        return f"must be one of {list(p.choices)}"
    if isinstance(value, str):
        if p.min_length is not None and len(value) < p.min_length:
            return f"must be at least {p.min_length} character(s) long"
        if p.pattern is not None and not re.fullmatch(p.pattern, value):
            return f"must match {p.pattern}"
        if p.format == "date-time" and not _is_time(value):
            return "must be an ISO 8601 date or time"
    elif not isinstance(value, bool):
        below = p.minimum is not None and (value <= p.minimum if p.exclusive_minimum else value < p.minimum)
        if below or (p.maximum is not None and value > p.maximum):
            return f"must be {_wanted(p, value)}"
    return None


def _wanted(p: RunParam, value) -> str:
    names = {"integer": "an integer", "number": "a number", "string": "a string", "boolean": "true or false"}
    wanted = " or ".join(names[t] for t in p.types if t != "null")
    return wanted + (_bounds(p, value) if "integer" in p.types or "number" in p.types else "") + (" or empty" if "null" in p.types else "")


def _is_time(text: str) -> bool:
    try:
        dt.datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def check(params: dict, kind: str) -> dict:
    """The parameters of a ``kind`` run: ``params`` checked, the others at their defaults (table order).

    Raises :class:`~schemas.errors.BadParameter` (one line naming the parameter and the value) for a name the
    table lacks or a ``kind`` run does not take, a missing ``data`` location, or a value outside its type,
    choices, bounds or pattern. Integers given as integral floats come back as ``int``.
    """
    taken = params_of(kind)
    unknown = sorted(set(params) - set(RUN_PARAMS))
    if unknown:
        raise BadParameter(f"unknown run parameters: {unknown}")
    other = sorted(set(params) - set(taken))
    if other:
        raise BadParameter(f"not parameters of {kind} runs: {other}")
    if "data" not in params:
        raise BadParameter("the run needs a 'data' location")
    out = {}
    for name, p in taken.items():
        value = params.get(name, p.default)
        if name in params and (bad := problem(p, value)):
            raise BadParameter(f"run parameter {name}: {bad}, got {value!r}")
        out[name] = int(value) if "integer" in p.types and isinstance(value, float) else value
    return out
