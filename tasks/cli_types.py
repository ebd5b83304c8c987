"""Argument types of the ``mmrecun`` command line: a bad value is argparse's one-line usage error, exit 2."""

from __future__ import annotations

import argparse
import datetime as dt

from schemas.run_params import RUN_PARAMS, RunParam, problem


def at_least(minimum: int):
    """An argparse type: an integer no smaller than ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {text!r}")
        return value

    return parse


def float_in(interval: str):
    """An argparse type: a finite float inside ``interval``, written ``(0, 1]``, ``[0, 1)``, ..."""
    low, high = (float(x) for x in interval[1:-1].split(","))

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        above = value > low if interval[0] == "(" else value >= low
        below = value < high if interval[-1] == ")" else value <= high
        if not (above and below):
            raise argparse.ArgumentTypeError(f"must be a number in {interval}, got {text!r}")
        return value

    return parse


def device(text: str) -> str:
    """An argparse type: ``auto``, ``cpu`` or ``cuda[:N]``, available on this machine (torch is imported to check)."""
    from mmrecun_core.device import resolve_device

    try:
        resolve_device(text)
    except (ValueError, RuntimeError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def cutoff(text: str) -> dt.datetime:
    """An ISO 8601 date or time; without a zone it is taken as UTC."""
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date or time: {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def _typed(p: RunParam, text: str):
    """``text`` as a value of the JSON type of ``p`` (the text itself when it is none of them)."""
    for kind, convert in (("integer", int), ("number", float)):
        if kind in p.types:
            try:
                return convert(text)
            except ValueError:
                pass
    return text


def run_param(name: str, parse=None):
    """An argparse type for run parameter ``name``: a value of its type, choices, bounds and pattern
    (:data:`schemas.run_params.RUN_PARAMS`); ``parse``, another argparse type, reads the text first and
    makes the value."""
    p = RUN_PARAMS[name]

    def convert(text: str):
        value = parse(text) if parse else None
        typed = _typed(p, text)
        bad = problem(p, typed)
        if bad:
            raise argparse.ArgumentTypeError(f"{bad}, got {text!r}")
        return value if parse else typed

    return convert


def add_run_options(parser: argparse.ArgumentParser, *names: str, parse: dict | None = None) -> None:
    """Add the options of run parameters ``names`` (their ``cli`` spelling, dest the parameter's name) to
    ``parser``: the table's default, choices, bounds and description; ``parse``: ``{name: argparse type}``
    read before the table's checks (:func:`run_param`)."""
    for name in names:
        p = RUN_PARAMS[name]
        text = p.description.replace("%", "%%")
        if p.types == ("boolean",):
            parser.add_argument(p.cli, dest=name, action="store_true", default=p.default, help=text)
        else:
            kind = run_param(name, (parse or {}).get(name))
            parser.add_argument(p.cli, dest=name, type=kind, choices=p.choices, default=p.default, required=p.required, help=text)
