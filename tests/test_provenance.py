"""Provenance: the git revision notices every change to the work tree; package versions."""
from __future__ import annotations

import subprocess

import pytest

from misgen_lib import provenance


@pytest.fixture
def checkout(tmp_path, monkeypatch):
    """A git checkout holding a stand-in ``misgen_lib`` package, as provenance sees it."""
    package = tmp_path / "misgen_lib"
    package.mkdir()
    (package / "__init__.py").write_text("")

    def git(*args):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path,
                       check=True, capture_output=True)
    git("init", "-q")
    git("add", ".")
    git("commit", "-qm", "start")
    monkeypatch.setattr(provenance, "PACKAGE_DIR", package)
    provenance.git_revision.cache_clear()
    yield tmp_path
    provenance.git_revision.cache_clear()


def _revision():
    provenance.git_revision.cache_clear()
    return provenance.git_revision()


def test_revision_is_clean_then_dirty_for_an_edit(checkout):
    assert not _revision().endswith("+dirty")
    (checkout / "misgen_lib" / "__init__.py").write_text("x = 1\n")
    assert _revision().endswith("+dirty")


def test_revision_is_dirty_for_an_untracked_file(checkout):
    (checkout / "misgen_lib" / "new_module.py").write_text("x = 1\n")
    assert _revision().endswith("+dirty")


def test_revision_ignores_ignored_files(checkout):
    (checkout / ".git" / "info" / "exclude").write_text("cache/\n")
    (checkout / "cache").mkdir()
    (checkout / "cache" / "entry").write_text("data")
    assert not _revision().endswith("+dirty")


def test_package_versions_are_those_installed():
    import numpy
    import scipy
    import torch
    versions = provenance.package_versions()
    assert set(versions) == {"torch", "numpy", "scipy"}
    assert torch.__version__.startswith(versions["torch"])   # 2.13.0 of 2.13.0+cpu
    assert (versions["numpy"], versions["scipy"]) == (numpy.__version__, scipy.__version__)
