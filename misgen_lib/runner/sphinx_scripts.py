"""Sphinx extension (named in ``_config.yml``): every script tag once per page.

Jupyter Book 1 with Sphinx 7 registers the inline configuration scripts of sphinx-thebe and
sphinx-togglebutton twice, so each page declared ``const THEBE_JS_URL`` twice and the browser
reported ``SyntaxError: Identifier 'THEBE_JS_URL' has already been declared`` on every page (seen
by ``tests/test_browser.py``). This drops the repeats from each page's script list.
"""
from __future__ import annotations


def _identity(script) -> tuple:
    attributes = getattr(script, "attributes", {}) or {}
    # the repeats differ only in an empty file name given as None or "" (inline scripts)
    return getattr(script, "filename", None) or "", tuple(sorted(attributes.items()))


def drop_repeated_scripts(app, pagename, templatename, context, doctree) -> None:
    seen, unique = set(), []
    for script in context.get("script_files", []):
        identity = _identity(script)
        if identity not in seen:
            seen.add(identity)
            unique.append(script)
    context["script_files"] = unique


def setup(app):
    app.connect("html-page-context", drop_repeated_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
