"""Argument types of run.py: every number is checked against a plausible range when the command line is parsed,
so a mistyped year or count is one line and exit 2 before any work (not 180 simulated years, not a traceback).
"""

from __future__ import annotations

import argparse

FIRST_YEAR, LAST_YEAR = 1950, 2100  # census-era years the region data and the model's demography can describe


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``run.py run: error: argument --seed: ... (see run.py run --help)``."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _number(kind, text: str, what: str):
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None


def _ranged(kind, low, high, what: str, name: str):
    """An argument type: ``kind`` (int or float) from ``low`` to ``high``, described as ``what`` in the error."""
    def parse(text: str):
        x = _number(kind, text, "a whole number" if kind is int else "a number")
        if not low <= x <= high:  # also refuses nan
            raise argparse.ArgumentTypeError(f"expected {what}, got {text}")
        return x
    parse.__name__ = name  # argparse names the type in some messages
    return parse


year = _ranged(int, FIRST_YEAR, LAST_YEAR, f"a year between {FIRST_YEAR} and {LAST_YEAR}", "year")
year.__doc__ = """A calendar year the model can describe.

>>> year("2030")
2030
"""
seed = _ranged(int, 0, 2 ** 32 - 1, f"a seed from 0 to {2 ** 32 - 1} (numpy's range for a portable seed)", "seed")
scale = _ranged(float, 0.001, 1.0, "a share of households between 0.001 and 1.0", "scale")
port = _ranged(int, 1, 65535, "a port from 1 to 65535", "port")


def count(high: int):
    """A whole number from 1 to ``high`` (seeds, samples, workers...).

    >>> count(10)("3")
    3
    """
    return _ranged(int, 1, high, f"a whole number from 1 to {high:,}", "count")


def tile_url(text: str) -> str:
    """A tile URL template for the page's background map: http(s), with the {z}, {x} and {y} a map fills in (an
    empty string: no background). Without them every tile would be the same picture, or none.

    >>> tile_url("https://tile.openstreetmap.org/{z}/{x}/{y}.png")
    'https://tile.openstreetmap.org/{z}/{x}/{y}.png'
    """
    if text == "":
        return text
    missing = [p for p in ("{z}", "{x}", "{y}") if p not in text and not (p == "{y}" and "{-y}" in text)]  # {-y}: TMS
    if not text.startswith(("http://", "https://")) or missing:
        raise argparse.ArgumentTypeError(
            f"expected a tile URL template such as https://tile.openstreetmap.org/{{z}}/{{x}}/{{y}}.png, got {text!r}"
            + (f" (without {', '.join(missing)})" if missing else " (not http or https)"))
    return text
