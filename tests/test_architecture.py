"""The house stays in order: no module of the package imports itself back through others (no circle),
and `rules/` stays pure. Read from the source with `ast`: imports inside functions and under
TYPE_CHECKING count too, since they tie the rooms together just the same."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("sync", "rules", "providers")


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module(p): p for package in PACKAGES for p in (ROOT / package).rglob("*.py")}


def _imports(path: Path, known: dict[str, Path]) -> Iterator[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = _module(path) if path.name == "__init__.py" else _module(path).rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and not target.endswith("__init__") and known[target].name != "__init__.py":
                yield target


def _graph() -> dict[str, set[str]]:
    known = _modules()
    return {name: set(_imports(path, known)) - {name} for name, path in known.items()}


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_module_imports_itself_back_through_others() -> None:
    circles = _circles(_graph())
    assert circles == [], "import circles (break each by moving the shared name down a floor):\n" + "\n".join(
        " -> ".join(c) for c in circles
    )


def _room(module: str) -> str:
    """The room a module stands in: its folder under `sync/` (ingest, actions, notify, ...) or its own file."""
    parts = module.split(".")
    return ".".join(parts[:2])


def test_no_room_of_sync_imports_itself_back_through_other_rooms() -> None:
    """Folders are floors: `directory/` may use `notify/`, but nothing `notify/` uses may lead back to
    `directory/` (so a new channel or action knows which rooms it may touch)."""
    rooms: dict[str, set[str]] = {}
    for name, targets in _graph().items():
        if name.startswith("sync."):
            rooms.setdefault(_room(name), set()).update(_room(t) for t in targets if t.startswith("sync."))
    rooms = {room: targets - {room} for room, targets in rooms.items()}
    circles = _circles(rooms)
    assert circles == [], "rooms that import each other back:\n" + "\n".join(" -> ".join(c) for c in circles)


def test_the_rules_import_nothing_but_the_rules() -> None:
    graph = _graph()
    outside = {(name, target) for name, targets in graph.items() if name.startswith("rules") for target in targets}
    assert {(n, t) for n, t in outside if not t.startswith("rules")} == set()


def test_the_circle_finder_finds_a_circle() -> None:
    """The check above cannot pass by finding nothing: a made-up loop is reported."""
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def _constructs(path: Path, name: str) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    return any(
        isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == name
        for node in ast.walk(tree)
    )


def test_only_queue_message_makes_an_outbox_row() -> None:
    """One way into the outbox, so the same message is never queued twice (sync/notify/outbox.py)."""
    makers = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "sync").rglob("*.py") if _constructs(p, "OutboxRow"))
    assert makers == ["sync/notify/outbox.py"]


def test_no_room_of_sync_outgrows_a_reading() -> None:
    """Small modules: a file past ~400 lines holds more than one job (the store's table list is the one
    that comes closest)."""
    sizes = {
        str(p.relative_to(ROOT)): len(p.read_text(encoding="utf-8").splitlines()) for p in (ROOT / "sync").rglob("*.py")
    }
    assert {path: lines for path, lines in sizes.items() if lines > 450} == {}
