"""docs/config.md is what the settings model writes, so it cannot drift from the code."""

from __future__ import annotations

from pathlib import Path

from rota.settings import KEYS, SECTIONS
from rota.settings_doc import render_config_doc

DOC = Path(__file__).resolve().parents[2] / "docs" / "config.md"


def test_docs_config_md_is_what_the_model_writes() -> None:
    assert DOC.read_text() == render_config_doc(), (
        "docs/config.md is out of date: run `rota config docs > docs/config.md`"
    )


def test_the_doc_has_every_section_and_key_with_its_default() -> None:
    text = render_config_doc()
    for section in SECTIONS:
        assert f"\n## [{section}]\n" in text
    for key, section in KEYS.items():
        field = SECTIONS[section].model_fields[key]
        row = next(line for line in text.splitlines() if line.startswith(f"| `{key}` |"))
        assert f"`ROTA_{key.upper()}`" in row
        assert (field.description or "") in row.replace("\\|", "|")
