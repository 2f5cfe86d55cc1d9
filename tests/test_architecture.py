"""The shape of the code: no import circles, and framework internals only where they are allowed.

(a) The import graph of vizcore/, ui/, pages/ and app.py, read from the source (imports inside
functions and relative imports count), has no circle: no strongly connected component of more than
one module. (b) Keras', TensorFlow's and Streamlit's internals (private attributes, ``keras.src``,
``tensorflow.python``, TF1's gradient override map, ``streamlit.runtime``) appear only in
vizcore/graph.py and vizcore/relu_override.py, whose own tests fail loudly when a framework changes
them. Each checker is also shown a small tree where it must find something, so it can fail.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("vizcore", "ui", "pages")  # folders of the import graph, with app.py
SCRIPTS = ("app.py",)
INTERNALS_ALLOWED = {"vizcore/graph.py", "vizcore/relu_override.py"}  # the two modules that may use them
INTERNALS = (  # framework internals, as written in the source
    "_keras_history",
    "_inbound_nodes",
    "_outbound_nodes",
    "_keras_mask",
    "_run_through_graph",
    "_gradient_registry",
    "gradient_override_map",
    "get_default_graph",
    "tf.compat.v1",
    "keras.src",
    "tensorflow.python",
    "streamlit.runtime",
    "script_run_ctx",
)
NAMEDTUPLE_API = {"_asdict", "_replace", "_fields", "_make", "_field_defaults"}  # public, despite the underscore


# --- (a) the import graph ----------------------------------------------------------------------


def python_files(root: Path, packages=PACKAGES, scripts=SCRIPTS) -> dict[str, Path]:
    """{module name: file} of the packages' modules and the scripts (``pages.why``, ``app``)."""
    modules = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    for script in scripts:
        if (root / script).exists():
            modules[Path(script).stem] = root / script
    return modules


def imported(module: str, path: Path, node: ast.Import | ast.ImportFrom) -> set[str]:
    """The module names an import statement names (a from-import: its module and each name in it)."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names}
    base = node.module or ""
    if node.level:
        package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join(package + ([base] if base else []))
    return {base} | {f"{base}.{alias.name}" for alias in node.names}


def import_graph(root: Path, packages=PACKAGES, scripts=SCRIPTS) -> dict[str, set[str]]:
    """{module: the project's modules it imports}, every import statement counted, wherever it is."""
    modules = python_files(root, packages, scripts)
    graph = {}
    for module, path in modules.items():
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names |= imported(module, path, node)
        graph[module] = {name for name in names if name in modules and name != module}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, 1972), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def test_the_import_graph_has_no_circles():
    graph = import_graph(ROOT)
    assert "vizcore.ascent" in graph and "app" in graph and any(name.startswith("pages.") for name in graph)
    found = circles(graph)
    for circle in found:
        print("import circle:", " ↔ ".join(circle))
    assert not found, f"import circles: {found}"


def test_the_checker_finds_a_circle_through_a_lazy_relative_import(tmp_path):
    package = tmp_path / "fake"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from .sub import b\n")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "b.py").write_text("def later():\n    from ..a import something\n")
    (package / "c.py").write_text("import fake.a\n")  # imports into the circle, is not part of it
    graph = import_graph(tmp_path, packages=("fake",), scripts=())
    assert circles(graph) == [["fake.a", "fake.sub.b"]]
    (package / "sub" / "b.py").write_text("def later():\n    pass\n")
    assert circles(import_graph(tmp_path, packages=("fake",), scripts=())) == []


# --- (b) framework internals -------------------------------------------------------------------


def own_private_names(files: list[Path]) -> set[str]:
    """Every ``_name`` the project defines: functions, classes, assigned names and attributes, arguments."""
    names = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
            elif isinstance(node, ast.arg):
                names.add(node.arg)
    return {name for name in names if name.startswith("_")}


def foreign_private_attributes(path: Path, own: set[str]) -> list[str]:
    """``x._name`` (or ``getattr(x, "_name")``) whose ``_name`` the project does not define: another
    library's private attribute."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        name = None
        if isinstance(node, ast.Attribute):
            name = node.attr
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) in {"getattr", "hasattr", "setattr"}:
            if len(node.args) > 1 and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str):
                name = node.args[1].value
        private = name is not None and name.startswith("_") and not name.startswith("__")
        if private and name not in own and name not in NAMEDTUPLE_API:
            found.append(f"{path.name}:{node.lineno}: {name}")
    return found


def internals_used(root: Path, files: list[Path]) -> dict[str, list[str]]:
    """{file relative to root: the internals it names, as text or as a foreign private attribute}."""
    own = own_private_names(files)
    used = {}
    for path in files:
        text = path.read_text(encoding="utf-8")
        named = [pattern for pattern in INTERNALS if re.search(re.escape(pattern), text)]
        named += foreign_private_attributes(path, own)
        if named:
            used[path.relative_to(root).as_posix()] = named
    return used


def test_framework_internals_appear_only_in_graph_and_relu_override():
    used = internals_used(ROOT, list(python_files(ROOT).values()))
    strays = {path: names for path, names in used.items() if path not in INTERNALS_ALLOWED}
    for path, names in strays.items():
        print(f"{path}: {', '.join(names)}")
    assert not strays, f"framework internals outside {sorted(INTERNALS_ALLOWED)}: {strays}"
    assert set(used) == INTERNALS_ALLOWED  # both still use some: the patterns still match real code


@pytest.mark.parametrize(
    "source, found",
    [
        ("history = getattr(tensor, '_keras_history', None)\n", "_keras_history"),
        ("from tensorflow.python.framework import ops\n", "tensorflow.python"),
        ("nodes = layer._inbound_nodes\n", "_inbound_nodes"),
        ("ctx = model._some_new_private_thing\n", "_some_new_private_thing"),  # not in the list: still found
        ("from streamlit.runtime.scriptrunner import get_script_run_ctx\n", "streamlit.runtime"),
    ],
)
def test_the_checker_finds_internals_in_a_stray_module(tmp_path, source, found):
    stray = tmp_path / "stray.py"
    stray.write_text("import keras\n\n\nclass Own:\n    def _mine(self):\n        return self._mine\n\n\n" + source)
    used = internals_used(tmp_path, [stray])
    assert any(found in name for name in used.get("stray.py", [])), used
    assert not any("_mine" in name for name in used.get("stray.py", []))  # the project's own private names pass
