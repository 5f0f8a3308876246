"""The package's imports point one way: cli -> app -> web -> daemon loops -> core -> leaves, and no two
modules import each other, directly or round a circle (imports inside functions count; imports only for
type checkers do not). Carriers and channels never import config, the polling policy or anything above
core, so a carrier or channel module can be read, tested and reused alone."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "tracker"

# Lowest first. A module may import modules of its own layer or of a lower one.
LAYERS: list[tuple[str, set[str]]] = [
    ("leaf", {"tracker", "tracker.clock", "tracker.retry", "tracker.redact", "tracker.logs", "tracker.stopping"}),
    ("core", set()),  # everything not named elsewhere
    ("daemon loops", {"tracker.poller", "tracker.dispatcher", "tracker.watch", "tracker.subscriber",
                      "tracker.reroute", "tracker.inbox.drain"}),
    ("web", {"tracker.web"}),  # and its submodules
    ("app", {"tracker.app"}),
    ("cli", {"tracker.cli", "tracker.__main__"}),
]
# Carriers and channels may use only these (and their own package).
COMPONENT_MAY_USE = {"tracker", "tracker.clock", "tracker.retry", "tracker.redact", "tracker.status"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts}


def _type_checking_only(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def imports_of(path: Path, known: set[str], me: str) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()

    def resolve(name: str) -> str | None:
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name or None

    def visit(node: ast.AST) -> None:
        if _type_checking_only(node):
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("tracker"):
                    found.add(resolve(alias.name))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import
                pkg = me.split(".")[: len(me.split(".")) - node.level + (1 if path.name == "__init__.py" else 0)]
                base = ".".join(pkg + ([base] if base else []))
            if base.startswith("tracker"):
                for alias in node.names:
                    target = f"{base}.{alias.name}"
                    found.add(target if target in known else resolve(base))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    found.discard(None)
    found.discard(me)
    return found


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: imports_of(path, set(mods), name) for name, path in mods.items()}


def layer_of(name: str) -> int:
    for i, (_, members) in enumerate(LAYERS):
        if name in members or any(name.startswith(m + ".") for m in members if m not in ("tracker",)):
            if i == 0 and name != "tracker" and name not in members:
                continue
            return i
    return 1


def test_no_module_imports_anything_round_a_circle():
    g = graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []
    counter = [0]

    def strongconnect(v: str) -> None:  # Tarjan
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in g.get(v, ()):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for v in sorted(g):
        if v not in index:
            strongconnect(v)
    assert circles == []


def test_imports_point_down_the_layers():
    wrong = []
    for name, targets in graph().items():
        for target in targets:
            if layer_of(target) > layer_of(name):
                wrong.append(f"{name} ({LAYERS[layer_of(name)][0]}) imports {target} ({LAYERS[layer_of(target)][0]})")
    assert sorted(wrong) == []


def test_carriers_and_channels_import_only_leaves_and_their_own_package():
    wrong = []
    for name, targets in graph().items():
        for package in ("tracker.carriers", "tracker.notify"):
            if name == package or name.startswith(package + "."):
                wrong += [f"{name} imports {t}" for t in targets
                          if t not in COMPONENT_MAY_USE and not (t == package or t.startswith(package + "."))]
    assert sorted(wrong) == []
