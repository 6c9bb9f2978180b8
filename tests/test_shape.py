"""The shape of the package: layers import downward only, and the public names are explicit."""

from __future__ import annotations

import ast
from pathlib import Path

import flightlog

PACKAGE = Path(flightlog.__file__).resolve().parent

# Lower numbers are lower layers; a module may import its own layer and the ones below.
LAYERS = {
    "errors": 0,
    "redaction": 0,
    "_version": 0,
    "lazy": 0,
    "model": 1,
    "selection": 1,
    "named_arguments": 1,
    "codec": 2,
    "codec_blobs": 2,
    "codec_plain": 2,
    "bandsaw": 2,
    "hashing": 2,
    "identity": 2,
    "module_source": 2,
    "stores": 3,
    "executors": 3,
    "runtime": 4,
    "tracking": 5,
    "resources": 6,
    "browse": 7,
    "query": 7,
    "operations": 7,
    "questions": 7,
    "explain": 7,
    "runlog": 7,
    "tracked_query": 7,
    "live_query": 7,
    "notebook": 7,
    "trackers": 7,
    "tracking_api": 8,
    "client": 8,
    "testing": 8,
    "testing_blobs": 8,
    "testing_cancel": 8,
    "testing_live": 8,
    "testing_copy": 8,
    "testing_deleting": 8,
    "testing_resources": 8,
    "testing_resource_uses": 8,
    "testing_selection": 8,
    "testing_ordering": 8,
    "testing_steps": 8,
    "testing_tracking": 8,
    "cli": 9,
    "__main__": 9,
    "web": 9,
    "__init__": 10,
}


def layer_of(module: str) -> int:
    """``flightlog.stores.sqlite`` -> the layer of ``stores``."""
    parts = module.split(".")
    head = parts[1] if len(parts) > 1 else "__init__"
    if head.startswith("cli_"):  # the command line's own modules, one per command group
        head = "cli"
    assert head in LAYERS, f"module flightlog.{head} has no layer: add it to LAYERS"
    return LAYERS[head]


def imported_modules(path: Path, module: str) -> set[str]:
    tree = ast.parse(path.read_text())
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found.add(name)
            if node.module is None or node.level:
                found.update(f"{name}.{alias.name}" for alias in node.names)
    return {name for name in found if name == "flightlog" or name.startswith("flightlog.")}


def modules() -> list[tuple[Path, str]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(relative.parts)
        if parts[-1] == "__init__":
            parts.pop()
        found.append((path, ".".join(parts)))
    return found


def test_layers_import_downward_only() -> None:
    wrong = []
    for path, module in modules():
        own = layer_of(module)
        for name in imported_modules(path, module):
            if name == "flightlog" or name.endswith(".__init__"):
                continue
            try:
                target = layer_of(name)
            except AssertionError:
                continue  # a name imported from a package's __init__, judged by its package
            if target > own:
                wrong.append(f"{module} (layer {own}) imports {name} (layer {target})")
    assert wrong == []


def test_library_never_imports_its_faces() -> None:
    for path, module in modules():
        if layer_of(module) >= LAYERS["cli"]:
            continue
        names = imported_modules(path, module)
        assert not {n for n in names if n.startswith(("flightlog.cli", "flightlog.web"))}, module


def test_public_names_are_sorted_and_real() -> None:
    names = flightlog.__all__
    assert names == sorted(names)
    assert len(set(names)) == len(names)
    for name in names:
        assert hasattr(flightlog, name), name


def test_modules_stay_small() -> None:
    big = {
        module: lines
        for path, module in modules()
        if (lines := len(path.read_text().splitlines())) > 800
    }
    assert big == {}, "split these modules by concept"


def test_import_flightlog_loads_no_face_nor_its_stack() -> None:
    # In a fresh interpreter: what only the command line, the web UI or a notebook needs
    # (argparse, the server stack, IPython) stays out of ``import flightlog``.
    import subprocess
    import sys

    code = "import sys, flightlog; print('\\n'.join(sorted(sys.modules)))"
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    ).stdout.split()
    faces = ("flightlog.cli", "flightlog.web", "argparse", "starlette", "uvicorn", "jinja2",
             "IPython", "playwright")  # fmt: skip
    found = [name for name in loaded if name.split(".")[0] in faces or name.startswith(faces)]
    assert [name for name in found if name != "flightlog.client"] == []
