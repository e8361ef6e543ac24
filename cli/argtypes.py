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


def year(text: str) -> int:
    """A calendar year the model can describe.

    >>> year("2030")
    2030
    """
    y = _number(int, text, "a year")
    if not FIRST_YEAR <= y <= LAST_YEAR:
        raise argparse.ArgumentTypeError(f"expected a year between {FIRST_YEAR} and {LAST_YEAR}, got {y}")
    return y


def count(high: int):
    """A whole number from 1 to ``high`` (seeds, samples, workers...).

    >>> count(10)("3")
    3
    """
    def parse(text: str) -> int:
        n = _number(int, text, "a whole number")
        if not 1 <= n <= high:
            raise argparse.ArgumentTypeError(f"expected a whole number from 1 to {high:,}, got {n}")
        return n
    parse.__name__ = "count"
    return parse


def seed(text: str) -> int:
    """A random seed, 0 to 2**32 - 1 (numpy's range for a portable seed).

    >>> seed("42")
    42
    """
    n = _number(int, text, "a whole number")
    if not 0 <= n < 2 ** 32:
        raise argparse.ArgumentTypeError(f"expected a seed from 0 to {2 ** 32 - 1}, got {n}")
    return n


def scale(text: str) -> float:
    """The share of households simulated, 0.001 to 1.

    >>> scale("0.1")
    0.1
    """
    x = _number(float, text, "a number")
    if not 0.001 <= x <= 1.0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"expected a share of households between 0.001 and 1.0, got {text}")
    return x


def port(text: str) -> int:
    """A TCP port, 1 to 65535.

    >>> port("8765")
    8765
    """
    n = _number(int, text, "a port number")
    if not 1 <= n <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 1 to 65535, got {n}")
    return n
