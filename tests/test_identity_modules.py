"""Module-level names in a task's identity: literal constants by value, the rest by source.

A name computed when its module loads (a pid, a temporary folder, a file descriptor, today's
date) must give the same task id in every process; editing the source that computes it, or a
literal constant, makes a new version. Each cross-process test starts bounded child processes.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import types
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from flightlog.identity import TaskIdentity, task_identity, value_digest

SRC = str(Path(__file__).resolve().parents[1] / "src")
RESUME_GUIDE = Path(__file__).resolve().parents[1] / "docs" / "guides" / "resume-and-cache.md"
WAIT = 60.0  # the longest a child process may take

# Each computed name, with the source that computes it when the module loads.
COMPUTED = {
    "PID": "import os\n\nPID = os.getpid()\n",
    "OUT": "import os\nimport tempfile\n\nOUT = tempfile.mkdtemp(dir=os.environ['SCRATCH'])\n",
    "FD": "import os\n\nFD = os.open(os.devnull, os.O_RDONLY)\n",
    "TODAY": "from datetime import date\n\nTODAY = date.today()\n",
}
# Another value of the same type, as another process (or another day) would compute it.
OTHER_VALUE = {"PID": 1, "OUT": "/elsewhere", "FD": 99, "TODAY": date(2001, 1, 1)}


def task_reading(name: str) -> str:
    return f"\n\ndef task(x):\n    return (x, {name})\n"


class Project:
    """Module files in a temporary folder, written and (re-)imported afresh."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.names: set[str] = set()

    def write(self, name: str, source: str) -> None:
        self.root.joinpath(f"{name}.py").write_text(textwrap.dedent(source))
        self.names.add(name)

    def load(self, name: str) -> types.ModuleType:
        # .pyc validity is checked by whole-second mtime and size: never trust a cached one.
        for cache in self.root.rglob("__pycache__"):
            shutil.rmtree(cache)
        for known in self.names:
            sys.modules.pop(known, None)
        importlib.invalidate_caches()
        return importlib.import_module(name)

    def identity(self, module: str, function: str = "task") -> TaskIdentity:
        return task_identity(getattr(self.load(module), function))


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("SCRATCH", str(tmp_path))
    made = Project(tmp_path)
    yield made
    for name in made.names:
        sys.modules.pop(name, None)


def changed(before: TaskIdentity, after: TaskIdentity) -> set[str]:
    keys = set(before.components) | set(after.components)
    return {key for key in keys if before.components.get(key) != after.components.get(key)}


_PRINT = """
import json, os, sys
for _ in range(int(os.environ.get("EXTRA_FDS", "0"))):  # move later descriptors along
    os.open(os.devnull, os.O_RDONLY)
from flightlog.identity import task_identity
{source}
identity = task_identity(task)
print(json.dumps([identity.task_id, identity.components, identity.constants]))
"""


def in_process(tmp_path: Path, source: str, **env: str) -> list[Any]:
    """[task_id, components, constants] of ``task`` as a fresh process computes them."""
    path = os.pathsep.join([SRC, str(tmp_path)])
    done = subprocess.run(
        [sys.executable, "-c", _PRINT.format(source=source)],
        cwd=tmp_path,
        env=dict(os.environ, PYTHONPATH=path, SCRATCH=str(tmp_path), **env),
        capture_output=True,
        text=True,
        timeout=WAIT,
    )
    assert done.returncode == 0, done.stderr
    result: list[Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# ------------------------------------------------------------------- computed names


@pytest.mark.parametrize("name", sorted(COMPUTED))
def test_computed_names_give_one_id_in_every_process(tmp_path: Path, name: str) -> None:
    (tmp_path / "computed.py").write_text(COMPUTED[name] + task_reading(name))
    first = in_process(tmp_path, "from computed import task", PYTHONHASHSEED="1")
    second = in_process(tmp_path, "from computed import task", PYTHONHASHSEED="2", EXTRA_FDS="3")
    assert first == second
    _, components, constants = first
    assert f"computed.{name}" in components
    source = COMPUTED[name].rpartition(f"{name} = ")[2].strip()
    assert constants == {f"computed.{name}": f"= {source}"}


@pytest.mark.parametrize("name", sorted(COMPUTED))
def test_the_value_of_a_computed_name_does_not_count(project: Project, name: str) -> None:
    project.write("computed", COMPUTED[name] + task_reading(name))
    module = project.load("computed")
    before = task_identity(module.task)
    setattr(module, name, OTHER_VALUE[name])  # as another process would compute it
    fresh = types.FunctionType(module.task.__code__, module.task.__globals__)
    assert task_identity(fresh).task_id == before.task_id


def test_a_script_and_its_import_agree_on_computed_names(tmp_path: Path) -> None:
    source = COMPUTED["PID"] + task_reading("PID")
    (tmp_path / "computed.py").write_text(
        source + "\n\nif __name__ == '__main__':\n"
        "    import json\n"
        "    from flightlog.identity import task_identity\n"
        "    identity = task_identity(task)\n"
        "    print(json.dumps([identity.task_id, identity.components, identity.constants]))\n"
    )
    path = os.pathsep.join([SRC, str(tmp_path)])
    done = subprocess.run(
        [sys.executable, "computed.py"],
        cwd=tmp_path,
        env=dict(os.environ, PYTHONPATH=path),
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=True,
    )
    as_script = json.loads(done.stdout.strip().splitlines()[-1])
    assert as_script == in_process(tmp_path, "from computed import task")


def test_editing_the_source_of_a_computed_name_changes_the_id(project: Project) -> None:
    project.write("computed", COMPUTED["PID"] + task_reading("PID"))
    before = project.identity("computed")
    project.write(
        "computed", COMPUTED["PID"].replace("getpid()", "getpid() + 0") + task_reading("PID")
    )
    same_value = project.identity("computed")
    assert changed(before, same_value) == {"computed.PID"}
    assert same_value.constants == {"computed.PID": "= os.getpid() + 0"}
    project.write("computed", COMPUTED["PID"].replace("getpid", "getppid") + task_reading("PID"))
    other_call = project.identity("computed")
    assert changed(before, other_call) == {"computed.PID"}
    assert len({before.task_id, same_value.task_id, other_call.task_id}) == 3


def test_formatting_and_comments_of_a_computed_name_do_not_count(project: Project) -> None:
    project.write("computed", COMPUTED["OUT"] + task_reading("OUT"))
    before = project.identity("computed")
    project.write(
        "computed",
        "# a comment\nimport os\nimport tempfile\n\n\n"
        "OUT: str = tempfile.mkdtemp(  # where the files go\n"
        '    dir=os.environ["SCRATCH"],\n)\n' + task_reading("OUT"),
    )
    after = project.identity("computed")
    assert after.task_id == before.task_id
    assert (
        after.constants
        == before.constants
        == {"computed.OUT": "= tempfile.mkdtemp(dir=os.environ['SCRATCH'])"}
    )


# ------------------------------------------------------------------ literal constants


def test_literal_constants_count_by_value(project: Project) -> None:
    module = (
        "SCALE = 3\nNAMES = ('a', 'b')\nLIMIT = -1.5\n\n"
        "def task(x):\n    return x * SCALE, NAMES, LIMIT\n"
    )
    project.write("literal", module)
    before = project.identity("literal")
    assert before.constants == {
        "literal.SCALE": "3",
        "literal.NAMES": "('a', 'b')",
        "literal.LIMIT": "-1.5",
    }
    # reformatting a literal does not count
    project.write("literal", module.replace("SCALE = 3", "SCALE = (3)  # three").replace("'", '"'))
    assert project.identity("literal").task_id == before.task_id
    project.write("literal", module.replace("SCALE = 3", "SCALE = 4"))
    assert changed(before, project.identity("literal")) == {"literal.SCALE"}
    project.write("literal", module.replace("('a', 'b')", "('a', 'c')"))
    edited = project.identity("literal")
    assert changed(before, edited) == {"literal.NAMES"}
    assert edited.constants["literal.NAMES"] == "('a', 'c')"


def test_literal_constant_ids_are_unchanged_by_the_rule(project: Project) -> None:
    # A literal constant counts exactly as before: by the digest of its value.
    project.write("literal", "SCALE = 3\nSCALE += 1\n\ndef task(x):\n    return x * SCALE\n")
    identity = project.identity("literal")
    assert identity.components["literal.SCALE"] == value_digest(4)
    assert identity.constants == {"literal.SCALE": "4"}


def test_a_computed_name_derived_from_a_constant_follows_it(project: Project) -> None:
    module = textwrap.dedent("""
        import os

        SCALE = 3
        FACTOR = SCALE * 2 + len(os.sep)


        def make_label(x):
            return f"label-{x}"


        LABEL = make_label(os.getpid())


        def task(x):
            return x * FACTOR, LABEL
    """)
    project.write("derived", module)
    before = project.identity("derived")
    assert {"derived.FACTOR", "derived.SCALE", "derived.LABEL", "derived.make_label"} <= set(
        before.components
    )
    assert before.constants["derived.FACTOR"] == "= SCALE * 2 + len(os.sep)"
    # the value of FACTOR changes with SCALE's edit, though its own source does not
    project.write("derived", module.replace("SCALE = 3", "SCALE = 4"))
    assert changed(before, project.identity("derived")) == {"derived.SCALE"}
    # the function that computes LABEL counts by its code
    project.write("derived", module.replace('f"label-{x}"', 'f"tag-{x}"'))
    assert changed(before, project.identity("derived")) == {"derived.make_label"}


def test_names_assigned_in_blocks_and_several_times(project: Project) -> None:
    module = textwrap.dedent("""
        import os
        import sys

        if sys.platform == "win32":
            HOME = os.environ.get("USERPROFILE")
        else:
            HOME = os.environ.get("HOME")
        try:
            PID = os.getpid()
        except OSError:
            PID = None
        COUNT = 1
        COUNT += len(sys.argv)


        def task(x):
            return x, HOME, PID, COUNT
    """)
    project.write("blocks", module)
    module_object = project.load("blocks")
    before = task_identity(module_object.task)
    assert before.constants == {
        "blocks.HOME": "= os.environ.get('USERPROFILE'); = os.environ.get('HOME')",
        "blocks.PID": "= os.getpid(); = None",
        "blocks.COUNT": "= 1; += len(sys.argv)",
    }
    module_object.COUNT = 1000
    module_object.PID = -1
    fresh = types.FunctionType(module_object.task.__code__, module_object.task.__globals__)
    assert task_identity(fresh).task_id == before.task_id
    project.write("blocks", module.replace("PID = None", "PID = 0"))
    assert changed(before, project.identity("blocks")) == {"blocks.PID"}


def test_imported_computed_names_count_by_their_source(tmp_path: Path) -> None:
    (tmp_path / "settings.py").write_text(COMPUTED["PID"] + "SCALE = 3\n")
    sources = {
        "from": "from settings import PID, SCALE\n\ndef task(x):\n    return x * SCALE, PID\n",
        "attribute": "import settings\n\n"
        "def task(x):\n    return x * settings.SCALE, settings.PID\n",
        "star": "from settings import *\n\ndef task(x):\n    return x * SCALE, PID\n",
    }
    for kind, source in sources.items():
        (tmp_path / f"uses_{kind}.py").write_text(source)
        first = in_process(tmp_path, f"from uses_{kind} import task")
        second = in_process(tmp_path, f"from uses_{kind} import task")
        assert first == second, kind
        scale = "settings.SCALE" if kind == "attribute" else f"uses_{kind}.SCALE"
        assert first[2] == {"settings.PID": "= os.getpid()", scale: "3"}, kind


def test_relative_imports_chains_and_unpacking_in_a_package(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "config.py").write_text(
        "import os\n\nPID = os.getpid()\nPID = PID + 0\nFIRST, SECOND = os.getpid(), 3\n"
    )
    (package / "middle.py").write_text("from .config import PID, FIRST, SECOND\n")
    (package / "flow.py").write_text(
        "from .middle import *\n\n\ndef task(x):\n    return x, PID, FIRST, SECOND\n"
    )
    first = in_process(tmp_path, "from pkg.flow import task")
    assert first == in_process(tmp_path, "from pkg.flow import task")
    unpacked = "(FIRST, SECOND) = (os.getpid(), 3)"
    assert first[2] == {
        "pkg.config.PID": "= os.getpid(); = PID + 0",
        "pkg.config.FIRST": unpacked,
        "pkg.config.SECOND": unpacked,
    }


# ----------------------------------------------------------- where source is not used


def test_without_source_names_count_by_value(tmp_path: Path) -> None:
    # code made by exec() has no source file: today's rule, by value
    namespace: dict[str, Any] = {"__name__": "generated"}
    exec("import os\nPID = os.getpid()\ndef task(x):\n    return x + PID\n", namespace)
    before = task_identity(namespace["task"])
    assert before.constants == {"generated.PID": str(os.getpid())}
    namespace["PID"] = -1
    fresh = types.FunctionType(namespace["task"].__code__, namespace)
    assert task_identity(fresh).task_id != before.task_id
    # a module object without a file
    module = types.ModuleType("nofile")
    exec("import os\nPID = os.getpid()\ndef task(x):\n    return x + PID\n", vars(module))
    sys.modules["nofile"] = module
    try:
        assert task_identity(module.task).constants == {"nofile.PID": str(os.getpid())}
    finally:
        del sys.modules["nofile"]
    # python -c: each process has its own pid, so its own id
    source = "import os\nPID = os.getpid()\ndef task(x):\n    return x + PID\n"
    assert in_process(tmp_path, source)[0] != in_process(tmp_path, source)[0]


def test_names_bound_otherwise_count_by_value(project: Project) -> None:
    module = textwrap.dedent("""
        import os

        for PID in [os.getpid()]:
            pass
        CONFIG = os.environ.get("HOME")


        def configure():
            global CONFIG
            CONFIG = "set"


        def task(x):
            return x, PID, CONFIG
    """)
    project.write("others", module)
    identity = project.identity("others")
    assert identity.constants["others.PID"] == str(os.getpid())
    assert identity.constants["others.CONFIG"] == repr(os.environ.get("HOME"))


def test_a_file_that_no_longer_parses_counts_by_value(project: Project) -> None:
    project.write("computed", COMPUTED["PID"] + task_reading("PID"))
    module = project.load("computed")
    Path(module.__file__ or "").write_text("PID = (\n")
    assert task_identity(module.task).constants == {"computed.PID": str(os.getpid())}


# -------------------------------------------------------------------------- the texts


def test_constant_texts_are_short_and_deterministic(project: Project) -> None:
    module = textwrap.dedent(
        """
        import os

        TAGS = frozenset({{"b", "a", "c"}})
        LONG = "{long}"
        MIXED = ("y" * 1, "{mixed}")


        def task(x):
            return x, TAGS, LONG, MIXED
    """.format(long="x" * 500, mixed="z" * 300)
    )
    project.write("texts", module)
    texts = project.identity("texts").constants
    assert texts["texts.TAGS"] == "= frozenset({'b', 'a', 'c'})"
    assert texts["texts.LONG"] == "'" + "x" * 198 + "…"
    mixed = "= ('y' * 1, '"
    assert texts["texts.MIXED"] == mixed + "z" * (199 - len(mixed)) + "…"
    project.write("frozen", "def task(x):\n    return x in TAGS\n")
    frozen = project.load("frozen")
    frozen.TAGS = frozenset({"b", "a", "c"})  # set from outside: by value, items sorted
    assert task_identity(frozen.task).constants == {"frozen.TAGS": "frozenset({'a', 'b', 'c'})"}


def test_constants_are_not_part_of_identity_equality(project: Project) -> None:
    project.write("computed", COMPUTED["PID"] + task_reading("PID"))
    identity = project.identity("computed")
    assert identity.constants
    plain = dataclasses.replace(identity, constants={})
    assert plain == identity
    assert hash(plain) == hash(identity)
    assert task_identity(len).constants == {}


# ------------------------------------------------------------------------------ speed


def test_each_module_is_parsed_once_and_only_when_needed(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flightlog import module_source

    reads: list[str] = []
    original = module_source.read_source

    def counting(namespace: dict[str, Any]) -> str | None:
        reads.append(str(namespace.get("__name__")))
        return original(namespace)

    monkeypatch.setattr(module_source, "read_source", counting)
    project.write(
        "several",
        COMPUTED["PID"] + "SCALE = 3\n\n"
        "def first(x):\n    return x + PID\n\n"
        "def second(x):\n    return x * SCALE + PID\n\n"
        "def third(x):\n    return len(x)\n",
    )
    module = project.load("several")
    task_identity(module.third)
    assert reads == []
    task_identity(module.first)
    task_identity(module.second)
    assert reads == ["several"]


# ------------------------------------------------------------------ the docs


def test_readme_example_of_the_rule(tmp_path: Path) -> None:
    text = RESUME_GUIDE.read_text()
    found = re.search(r"<!-- module names -->\n```python\n(.*?)```", text, re.S)
    assert found is not None, "resume-and-cache.md has no example of the module-level names rule"
    prelude = "import flightlog\n\nfl = flightlog.open('memory://')\n"
    (tmp_path / "example.py").write_text(prelude + found.group(1))
    first = in_process(tmp_path, "from example import scaled as task")
    assert first == in_process(tmp_path, "from example import scaled as task")
    assert first[2] == {"example.SCALE": "3", "example.PID": "= os.getpid()"}
    (tmp_path / "example.py").write_text(prelude + found.group(1).replace("SCALE = 3", "SCALE = 4"))
    assert in_process(tmp_path, "from example import scaled as task")[0] != first[0]


def test_mutable_module_names_count_by_their_source(project: Project) -> None:
    module = (
        "CONFIG = {'k': 1}\nSTEPS = [1, 2]\n\nclass Client:\n    pass\n\nCLIENT = Client()\n\n"
        "def task(x):\n    return x * CONFIG['k'], STEPS, CLIENT\n"
    )
    project.write("mutable", module)
    before = project.identity("mutable")
    assert before.constants["mutable.CONFIG"] == "= {'k': 1}"
    # reformatting does not count, editing does
    project.write("mutable", module.replace("{'k': 1}", '{"k": 1}  # the same'))
    assert project.identity("mutable").task_id == before.task_id
    project.write("mutable", module.replace("{'k': 1}", "{'k': 2}"))
    edited = project.identity("mutable")
    assert changed(before, edited) == {"mutable.CONFIG"}
    assert edited.constants["mutable.CONFIG"] == "= {'k': 2}"
    project.write("mutable", module.replace("STEPS = [1, 2]", "STEPS = [1, 2, 3]"))
    assert "mutable.STEPS" in changed(before, project.identity("mutable"))
    project.write("mutable", module.replace("CLIENT = Client()", "CLIENT = Client()\nCLIENT.x = 1"))
    assert project.identity("mutable").task_id == before.task_id  # only assignments count
