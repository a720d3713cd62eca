"""Write the last run's tables into a Markdown file, between two marker comments.

Everything between `<!-- rota-bench:begin -->` and `<!-- rota-bench:end -->` is replaced;
the rest of the file is the engineers' own text. A file without the markers gets them at
its end.
"""

from __future__ import annotations

from pathlib import Path

BEGIN = "<!-- rota-bench:begin -->"
END = "<!-- rota-bench:end -->"


def write_between_markers(path: Path, body: str) -> None:
    """Replace the text between the markers of `path` with `body` (creating what is missing)."""
    text = path.read_text() if path.exists() else ""
    block = f"{BEGIN}\n{body.strip()}\n{END}"
    start, end = text.find(BEGIN), text.find(END)
    if start != -1 and end > start:
        text = text[:start] + block + text[end + len(END) :]
    else:
        text = text.rstrip() + ("\n\n" if text.strip() else "") + block + "\n"
    path.write_text(text)
