"""Markdown tables for the benchmark scripts' reports (README copies them)."""

from __future__ import annotations


def padded_table(rows: list[list[str]]) -> str:
    """A Markdown table of strings, ``rows[0]`` the header, every column
    padded to its widest cell so the table also reads as plain text."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(rows[0], widths)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"
              for r in rows[1:]]
    return "\n".join(lines)


def numeric_table(header: list[str], rows: list[list]) -> str:
    """A Markdown table whose first column is a label and the others are
    numbers, right-aligned."""
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)
