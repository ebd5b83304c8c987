"""Argument types of the ``mmrecun`` command line: a bad value is argparse's one-line usage error, exit 2."""

from __future__ import annotations

import argparse
import datetime as dt

from mmrecun_core.device import resolve_device


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
    """An argparse type: ``auto``, ``cpu`` or ``cuda[:N]``, available on this machine."""
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
