"""Chapters 03 and 04 load the models that 02 trained: their suite parameters must agree with
02's in every profile, or they would fail with a missing-artifact error at build time."""
import dataclasses
from pathlib import Path

import pytest

from misgen_lib.runner.profiles import discover, find
from misgen_lib.suite import SuiteConfig

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
SUITE_FIELDS = [f.name for f in dataclasses.fields(SuiteConfig) if f.name != "overrides"]
CONSUMERS = ["03_kernel", "04_before_training"]


@pytest.mark.parametrize("profile", ["ci", "default", "paper"])
@pytest.mark.parametrize("consumer", CONSUMERS)
def test_consumers_share_the_models_chapter_suite(consumer, profile):
    specs = discover(NOTEBOOKS)
    producer = find(specs, "02_misgeneralization").merged_parameters(profile)
    spec = find(specs, consumer)
    assert "02_misgeneralization" in spec.depends
    params = spec.merged_parameters(profile)
    shared = [name for name in SUITE_FIELDS if name in producer]
    assert len(shared) >= 8, shared
    differing = {n: (params.get(n), producer[n]) for n in shared if params.get(n) != producer[n]}
    assert not differing, f"{consumer} ({profile}) differs from 02_misgeneralization: {differing}"
