"""The chapters read as science, not plumbing (issue 21), checked on the notebook sources
(``notebooks/NN_*.md``, read with jupytext; nothing is executed or built):

* the code a reader sees on a chapter page is at most ``MAX_VISIBLE_LINES`` lines. Seen: every
  non-blank line of a code cell, except cells the book does not show or folds: the parameters
  cell (the runner tags it ``remove-cell``), cells tagged ``remove-cell``, ``remove-input``,
  ``hide-input`` or ``hide-cell``, and figure cells (a call of ``figures.show(``, which the
  runner tags ``hide-input``; ``misgen_lib.runner.pages``);
* no notebook defines a function or class (that belongs in the library);
* every chapter with a claim opens with an "at a glance" box whose numbers are glued from the run
  (``{glue:text}`` roles), and no glue role names a value the chapter does not glue;
* no history of earlier builds in the book's text (that is what version control is for);
* no tracker words in the book's or the README's text: a reader knows no issue numbers.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import jupytext
import pytest

from conftest import REPO

MAX_VISIBLE_LINES = 30
HIDDEN_TAGS = {"parameters", "remove-cell", "remove-input", "hide-input", "hide-cell"}
FIGURE_CALL = "figures.show("   # as misgen_lib.runner.pages folds them
CHAPTERS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.md"))
HISTORY = re.compile(r"earlier build|before this revision|builds before|since the fix", re.I)
TRACKER = re.compile(r"\bissues?\b|#\d+\b", re.I)


def code_cells(path: Path) -> list:
    return [c for c in jupytext.read(path).cells if c.cell_type == "code"]


def visible(cell) -> bool:
    return not (HIDDEN_TAGS & set(cell.metadata.get("tags", [])) or FIGURE_CALL in cell.source)


def visible_code_lines(path: Path) -> int:
    """Non-blank code lines a reader of ``path``'s page sees without unfolding anything."""
    return sum(1 for c in code_cells(path) if visible(c) for line in c.source.splitlines() if line.strip())


def test_the_chapters_are_found():
    assert [p.name[:2] for p in CHAPTERS] == ["01", "02", "03", "04", "05", "06", "07", "08"]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_visible_code_is_short(path):
    n = visible_code_lines(path)
    assert n <= MAX_VISIBLE_LINES, f"{path.name}: {n} lines of visible code (at most {MAX_VISIBLE_LINES})"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_notebooks_define_no_functions(path):
    for cell in code_cells(path):
        for node in ast.walk(ast.parse(cell.source)):
            assert not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)), \
                f"{path.name}: defines {type(node).__name__} in\n{cell.source}"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_glue_code_is_hidden(path):
    for cell in code_cells(path):
        if "glue(" in cell.source:
            assert not visible(cell), f"{path.name}: a visible glue cell\n{cell.source}"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_at_a_glance_box_opens_the_chapter_with_glued_numbers(path):
    text = path.read_text()
    body = text.split("\n---\n", 1)[1]
    first_cell = body.index("```{code-cell}")
    box = re.search(r"````\{admonition\} At a glance\n(.*?)\n````", body, re.S)
    assert box and box.start() < first_cell, f"{path.name}: no 'At a glance' box before the first code cell"
    assert len(re.findall(r"\{glue:text\}`", box.group(1))) >= 3, f"{path.name}: the box has too few glued values"
    assert not re.search(r"\d\.\d", re.sub(r"\{glue:text\}`[^`]*`", "", box.group(1))), \
        f"{path.name}: a number typed into the box instead of glued"


def test_no_history_paragraphs_in_the_book():
    sources = [*CHAPTERS, *sorted((REPO / "book").glob("*.md"))]
    found = [f"{p.name}: {m.group(0)!r}" for p in sources for m in HISTORY.finditer(p.read_text())]
    assert not found, found


def test_no_tracker_words_in_the_book():
    sources = [*CHAPTERS, *sorted((REPO / "book").glob("*.md")), REPO / "README.md"]
    found = [f"{p.name}: {m.group(0)!r}" for p in sources for m in TRACKER.finditer(p.read_text())]
    assert not found, found
