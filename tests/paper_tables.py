"""Reading the paper's tables as numbers for the tests that check our copies of them
(analysis/paper_reference.py, the spaces that follow Table III/IV). The tables are test input, like
the GLUE data: they live in the shared folder beside the data, not in this repository."""
from __future__ import annotations

import re
from pathlib import Path


def read_paper_tables(shared_data_dir: Path) -> str:
    """The tables' markdown, in the ``docs`` folder beside the shared data folder."""
    path = shared_data_dir.parent / "docs" / "paper-tables.md"
    assert path.is_file(), f"paper tables not found at {path}"
    return path.read_text()


def markdown_table(text: str, heading: str) -> list[list[str]]:
    """The cells of the first markdown table after ``heading``, the separator row dropped."""
    section = text.split(heading, 1)[1].split("\n## ", 1)[0]
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")]
            for line in section.splitlines() if line.startswith("|")]
    return [row for row in rows if not all(re.fullmatch(r":?-+:?", cell) for cell in row if cell)]
