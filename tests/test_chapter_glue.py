"""Every value a chapter glues is read by its text, and every value its text reads is glued.

Read from the sources, without running a chapter: the names a notebook reads (``{glue:text}`name```
and the other glue roles and directives) against the names its code glues: the keys of the
``misgen_lib.studies.chapters`` functions it passes to ``chapters.glue_all`` (dict keys, keyword
and subscript assignments of their ``facts``, and the dicts of the functions they unpack, such as
``claims.verdict_facts``; an f-string key's parts are resolved from the literal arguments of the
notebook's call, else match any name) and the literal keys of its own dicts. A mismatch would
otherwise surface only when the strict book build fails (a name read but never glued) or never
(a name glued but never read). A verdict's record (``VERDICT_RECORD``) is glued whole, read in
part."""
import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STUDIES = ROOT / "misgen_lib" / "studies"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.md"))
#: a glue role or directive and the name it reads: {glue:text}`name:.2f`, {glue}`name`, ```{glue:figure} name
READ = re.compile(r"\{glue(?::\w+)?\}`([A-Za-z_]\w*)|^```\{glue(?::\w+)?\}\s+([A-Za-z_]\w*)", re.M)
CODE_CELL = re.compile(r"^```\{code-cell\}[^\n]*\n(.*?)^```$", re.S | re.M)


def functions(path: Path) -> dict[str, ast.FunctionDef]:
    return {n.name: n for n in ast.parse(path.read_text()).body if isinstance(n, ast.FunctionDef)}


LIBRARY = {"chapters": functions(STUDIES / "chapters.py"), "claims": functions(STUDIES / "claims.py")}


def _key(node: ast.expr, bound: dict[str, str]) -> str | None:
    """A dict key as a regular expression: a literal, or an f-string whose parts are the literal
    arguments ``bound`` to the function's parameters or any name."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return re.escape(node.value)
    if isinstance(node, ast.JoinedStr):
        return "".join(re.escape(v.value) if isinstance(v, ast.Constant)
                       else re.escape(bound[v.value.id]) if isinstance(v.value, ast.Name) and v.value.id in bound
                       else r"\w*" for v in node.values)
    return None


def emitted(module: str, name: str, args: list[ast.expr] = ()) -> set[str]:
    """The glue names (regular expressions) that function ``name`` of ``module`` returns,
    following the dicts of library functions it unpacks."""
    fn = LIBRARY[module][name]
    bound = {p.arg: a.value for p, a in zip(fn.args.args, args)
             if isinstance(a, ast.Constant) and isinstance(a.value, str)}
    out = set()
    for node in ast.walk(fn):
        if isinstance(node, ast.DictComp):
            out |= {k for k in [_key(node.key, bound)] if k}
        elif isinstance(node, ast.Dict):
            out |= {k for k in (_key(k, bound) for k in node.keys if k is not None) if k}
            for value in (v for k, v in zip(node.keys, node.values) if k is None):   # **f(...)
                out |= _called(value, module)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "update" \
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "facts":
            out |= {re.escape(k.arg) for k in node.keywords if k.arg}
            for arg in node.args:
                out |= _called(arg, module)
        elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store) \
                and isinstance(node.value, ast.Name) and node.value.id == "facts":
            out |= {k for k in [_key(node.slice, bound)] if k}
    return out


def _called(node: ast.expr, module: str) -> set[str]:
    """The names of a library function's dict that ``node`` calls (``claims.verdict_facts(v)``,
    ``_control_facts(t, "c4_")``), else none."""
    if not isinstance(node, ast.Call):
        return set()
    f = node.func
    target = (module, f.id) if isinstance(f, ast.Name) else (f.value.id, f.attr) \
        if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) else (None, None)
    return emitted(*target, node.args) if target[0] in LIBRARY and target[1] in LIBRARY[target[0]] else set()


def glued(code: str) -> set[str]:
    """What a notebook's code glues: for each ``chapters.glue_all(...)`` call, the names of the
    chapter functions whose results reach it (directly, or through a variable the code assigned
    them to) and the literal keys of its own dicts."""
    tree = ast.parse(code)
    assigned = {t.id: n.value for n in ast.walk(tree) if isinstance(n, ast.Assign)
                for t in n.targets if isinstance(t, ast.Name)}
    out = set()

    def reach(node):
        if isinstance(node, ast.Name) and node.id in assigned:
            reach(assigned[node.id])
        elif isinstance(node, ast.Call):
            out.update(_called(node, "chapters"))
        elif isinstance(node, ast.Dict):
            for k, v in zip(node.keys, node.values):
                if k is None:
                    reach(v)
                else:
                    out.update(x for x in [_key(k, {})] if x)

    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "glue_all":
            reach(node.args[0])
    return out


#: a verdict's glued record (``claims.verdict_facts``: statement, sentence, outcome, counts): a
#: chapter reads what it quotes of it, ``misgen compare`` compares all of it with the reference
VERDICT_RECORD = emitted("claims", "verdict_facts")


def read(text: str) -> set[str]:
    return {a or b for a, b in READ.findall(text)}


def mismatches(text: str) -> tuple[set[str], set[str]]:
    """``(read but never glued, glued but never read)`` of a notebook's ``text``."""
    names = read(text)
    cells = [re.sub(r"^:\w+:.*\n", "", cell, flags=re.M) for cell in CODE_CELL.findall(text)]   # cell options
    patterns = glued("\n".join(cells))
    unglued = {n for n in names if not any(re.fullmatch(p, n) for p in patterns)}
    unread = {p for p in patterns - VERDICT_RECORD if not any(re.fullmatch(p, n) for n in names)}
    return unglued, unread


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_glued_name_is_read_and_every_read_name_glued(notebook):
    text = notebook.read_text()
    if "glue_all" not in text and "{glue" not in text:
        pytest.skip("the chapter glues nothing")
    unglued, unread = mismatches(text)
    assert not unglued, f"{notebook.name} reads names that nothing glues: {sorted(unglued)}"
    assert not unread, f"{notebook.name}: glued but never read: {sorted(unread)}"


def test_the_check_fails_on_a_renamed_name_on_either_side():
    text = (ROOT / "notebooks" / "02_misgeneralization.md").read_text()
    assert mismatches(text) == (set(), set())
    renamed = text.replace("{glue:text}`median_tv_ratio", "{glue:text}`median_tv_ration")
    assert mismatches(renamed) == ({"median_tv_ration"}, {"median_tv_ratio"})
    text = (ROOT / "notebooks" / "04_before_training.md").read_text()
    dropped = text.replace('"probe_steps": probe_steps', '"probe_step": probe_steps')
    assert mismatches(dropped) == ({"probe_steps"}, {"probe_step"})
