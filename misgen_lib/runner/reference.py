"""The reference book: a committed record of what one build computed, to compare other builds with.

``book/reference.json`` records the default profile's book (``book/reference-<profile>.json``
another profile's). ``misgen reference`` writes it from a build (``runner.compare.book_record``)
and ``misgen compare`` compares a build with it; the claims page shows its verdicts beside the
build's. One JSON object::

    format      "misgen reference 1"
    profile     the profile every chapter was executed at (no overrides)
    revision    the git revision(s) that executed the chapters
    built       when the last chapter finished (UTC)
    host        the CPU that wrote it: {"model", "bf16_units"} (its numerics), "description"
    packages    versions of the packages whose numerics a result depends on (torch, numpy, scipy)
    chapters    stem -> {
        built      {"revision", "host", "finished"} of the chapter's execution (run manifest)
        values     glue name -> value of the cells tagged ``nbval-check-output`` (the results the
                   prose quotes: a number, or text with numbers in it)
        reported   glue name -> value of other cells (wall-clock seconds, cost ratios)
        intervals  name -> [value, low, high]: a pair's TV per seed ("TV task / model / seed")
                   with the interval another build's TV of that pair is held to, and every
                   statistic a claim record gives with its interval ("C3 maze / model: mean shift")
        claims     claim id -> the verdict's words (``outcome``) and numbers (``passed``, ``total``)
                   as the chapter recorded them, and ``units``: unit -> whether it counts}

Floats keep six significant digits; NaN is ``null``.
"""
from __future__ import annotations

import json
from pathlib import Path

FORMAT = "misgen reference 1"
#: the sections of a chapter's record, as above
SECTIONS = ("built", "values", "reported", "intervals", "claims")


class ReferenceFileError(ValueError):
    """A reference file that is missing, unreadable or not in this module's format."""


def reference_path(book_dir: Path, profile: str) -> Path:
    """Where the reference of ``profile`` lives in ``book_dir``."""
    return Path(book_dir) / ("reference.json" if profile == "default" else f"reference-{profile}.json")


def load_reference(path: Path) -> dict:
    """The reference at ``path``; a ``ReferenceFileError`` naming the file and what is wrong
    with it (missing, not JSON, another format, a chapter without its sections)."""
    path = Path(path)
    if not path.exists():
        raise ReferenceFileError(f"no reference file {path}; write one from a build with "
                                 f"`misgen reference --profile PROFILE`")
    try:
        record = json.loads(path.read_text())
    except ValueError as err:
        raise ReferenceFileError(f"reference file {path} is not JSON ({err})") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        found = record.get("format") if isinstance(record, dict) else type(record).__name__
        raise ReferenceFileError(f"reference file {path} has format {found!r}; expected {FORMAT!r} "
                                 f"(rewrite it with `misgen reference`)")
    for stem, chapter in record.get("chapters", {}).items():
        missing = [s for s in SECTIONS if not isinstance(chapter, dict) or s not in chapter]
        if missing:
            raise ReferenceFileError(f"reference file {path}: chapter {stem} lacks {', '.join(missing)} "
                                     f"(expected sections: {', '.join(SECTIONS)})")
    return record


def verdict_text(claim: dict) -> str:
    """A claim's recorded verdict in words: its outcome and ``passed of total`` units, then any
    other word the record holds."""
    words = [str(v) for k, v in claim.items() if isinstance(v, str)]
    if "passed" in claim and "total" in claim:
        words.insert(1 if words else 0, f"{claim['passed']} of {claim['total']}")
    return ", ".join(words) or "no verdict"


def claim_verdicts(reference: dict) -> dict[str, dict]:
    """Claim id -> its verdict in ``reference`` (as in ``chapters.<stem>.claims``)."""
    return {claim: verdict for chapter in reference["chapters"].values()
            for claim, verdict in chapter["claims"].items()}
