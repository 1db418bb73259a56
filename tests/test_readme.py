"""The README is for a newcomer, and the book sends no reader to it for results."""
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_the_readme_is_short_and_names_no_tracker_item():
    lines = (REPO / "README.md").read_text().splitlines()
    assert len(lines) <= 150 and max(map(len, lines)) <= 200
    assert not re.search(r"\bissue \d+|\bitem \d+ of", "\n".join(lines), re.I)
    first_screen = "\n".join(lines[:40])
    assert "make book" in first_screen and "make test" in first_screen and "misgen run 01 -p" in first_screen


def test_no_book_page_or_chapter_sends_readers_to_the_readme():
    pages = [*(REPO / "book").glob("*.md"), *(REPO / "notebooks").glob("*.md")]
    assert not [p.name for p in pages if "README" in p.read_text()]
