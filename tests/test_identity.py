"""Task identity: what a task's id covers, and what it does not (flightlog.identity)."""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flightlog.errors import FlightlogError, InvalidInputError
from flightlog.identity import (
    NotATaskError,
    TaskIdentity,
    qualified_name,
    task_identity,
    value_digest,
)

SRC = str(Path(__file__).resolve().parents[1] / "src")


class Project:
    """Module files in a temporary folder, written and (re-)imported afresh."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.names: set[str] = set()

    def write(self, name: str, source: str) -> None:
        path = self.root.joinpath(*name.split(".")).with_suffix(".py")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
        self.names.add(name)

    def forget(self) -> None:
        # .pyc validity is checked by whole-second mtime and size: never trust a cached one.
        for cache in self.root.rglob("__pycache__"):
            shutil.rmtree(cache)
        for name in list(sys.modules):
            if name.partition(".")[0] in {known.partition(".")[0] for known in self.names}:
                del sys.modules[name]
        importlib.invalidate_caches()

    def load(self, name: str) -> types.ModuleType:
        self.forget()
        return importlib.import_module(name)

    def identity(self, module: str, function: str = "task", **options: Any) -> TaskIdentity:
        return task_identity(getattr(self.load(module), function), **options)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    monkeypatch.syspath_prepend(str(tmp_path))
    made = Project(tmp_path)
    yield made
    made.forget()


def changed(before: TaskIdentity, after: TaskIdentity) -> set[str]:
    """The component names whose digest differs (or that appear on one side only)."""
    keys = set(before.components) | set(after.components)
    return {key for key in keys if before.components.get(key) != after.components.get(key)}


PIPELINE = textwrap.dedent("""
    import helpers
    from helpers import double

    SCALE = 3
    RESULTS = []


    def helper(x):
        if x in {"a", "b", "c", "d"}:
            return 0
        return x * SCALE


    def unrelated(x):
        return x - 1


    def task(x):
        RESULTS.append(x)
        return helper(x) + double(x) + helpers.offset(x)
""")

HELPERS = textwrap.dedent("""
    BASE = 10


    def double(x):
        return 2 * x


    def offset(x):
        return x + BASE
""")


@pytest.fixture
def pipeline(project: Project) -> Project:
    project.write("helpers", HELPERS)
    project.write("pipeline", PIPELINE)
    return project


# ------------------------------------------------------------------------------ basics


def test_identity_shape(pipeline: Project) -> None:
    identity = pipeline.identity("pipeline")
    assert identity.name == "pipeline.task"
    assert len(identity.task_id) == 32
    int(identity.task_id, 16)
    assert identity.version is None
    assert {
        "pipeline.task",
        "pipeline.helper",
        "pipeline.SCALE",
        "helpers.double",
        "helpers.offset",
        "helpers.BASE",
    } <= set(identity.components)
    assert "pipeline.unrelated" not in identity.components
    # a list the task appends to counts by the source of its assignment, never by content
    assert identity.constants["pipeline.RESULTS"] == "= []"


def test_same_code_same_id_across_imports(pipeline: Project) -> None:
    first = pipeline.identity("pipeline")
    second = pipeline.identity("pipeline")
    assert first == second


def test_cached_per_function(pipeline: Project) -> None:
    task = pipeline.load("pipeline").task
    first = task_identity(task)
    assert task_identity(task) is first
    assert task_identity(task, name="other") is not first
    assert task_identity(task) is first


def test_editing_the_body_changes_the_id(pipeline: Project) -> None:
    before = pipeline.identity("pipeline")
    pipeline.write("pipeline", PIPELINE.replace("+ helpers.offset(x)", "- helpers.offset(x)"))
    after = pipeline.identity("pipeline")
    assert after.task_id != before.task_id
    assert changed(before, after) == {"pipeline.task"}


def test_comments_formatting_and_docstrings_do_not_count(pipeline: Project) -> None:
    before = pipeline.identity("pipeline")
    reformatted = PIPELINE.replace(
        "def task(x):\n    RESULTS.append(x)\n",
        '\n\n# a comment\ndef task(x):\n    """A docstring."""\n\n'
        "    RESULTS.append(  # why\n        x\n    )\n",
    ).replace("return helper(x) + double(x) + helpers.offset(x)", "return (helper(x)\n"
              "            + double(x)   # comment\n            + helpers.offset(x))")  # fmt: skip
    assert reformatted != PIPELINE
    pipeline.write("pipeline", "\n\n\n" + reformatted)
    assert pipeline.identity("pipeline").task_id == before.task_id


def test_editing_a_helper_in_the_same_module_changes_the_id(pipeline: Project) -> None:
    before = pipeline.identity("pipeline")
    pipeline.write("pipeline", PIPELINE.replace("return x * SCALE", "return x * SCALE + 1"))
    after = pipeline.identity("pipeline")
    assert after.task_id != before.task_id
    assert changed(before, after) == {"pipeline.helper"}


def test_editing_a_helper_in_another_module_changes_the_id(pipeline: Project) -> None:
    before = pipeline.identity("pipeline")
    # reached through "from helpers import double"
    pipeline.write("helpers", HELPERS.replace("return 2 * x", "return 3 * x"))
    after = pipeline.identity("pipeline")
    assert changed(before, after) == {"helpers.double"}
    # reached through "import helpers" and "helpers.offset(x)"
    pipeline.write("helpers", HELPERS.replace("return x + BASE", "return x - BASE"))
    again = pipeline.identity("pipeline")
    assert changed(before, again) == {"helpers.offset"}
    assert len({before.task_id, after.task_id, again.task_id}) == 3


def test_editing_a_constant_changes_the_id(pipeline: Project) -> None:
    before = pipeline.identity("pipeline")
    pipeline.write("pipeline", PIPELINE.replace("SCALE = 3", "SCALE = 4"))
    after = pipeline.identity("pipeline")
    assert changed(before, after) == {"pipeline.SCALE"}
    pipeline.write("helpers", HELPERS.replace("BASE = 10", "BASE = 11"))
    again = pipeline.identity("pipeline")
    assert changed(after, again) == {"helpers.BASE"}


def test_editing_an_unrelated_function_does_not_count(pipeline: Project) -> None:
    before = pipeline.identity("pipeline")
    pipeline.write("pipeline", PIPELINE.replace("return x - 1", "return x - 2"))
    pipeline.write("helpers", HELPERS + "\n\ndef extra():\n    return 1\n")
    assert pipeline.identity("pipeline").task_id == before.task_id


def test_mutable_globals_do_not_count(pipeline: Project) -> None:
    module = pipeline.load("pipeline")
    before = task_identity(module.task)
    module.RESULTS.extend([1, 2, 3])
    fresh = types.FunctionType(module.task.__code__, module.task.__globals__)
    assert task_identity(fresh) is not before
    assert task_identity(fresh).task_id == before.task_id


def test_renaming_a_task_or_its_module_changes_the_id(pipeline: Project) -> None:
    before = pipeline.identity("pipeline")
    pipeline.write("pipeline2", PIPELINE)
    moved = pipeline.identity("pipeline2")
    assert moved.name == "pipeline2.task"
    assert moved.task_id != before.task_id
    named = pipeline.identity("pipeline", name="custom")
    assert named.name == "custom"
    assert named.task_id != before.task_id
    assert pipeline.identity("pipeline", name="custom").task_id == named.task_id


# ---------------------------------------------------------------- closures and callables


def test_closure_values_count(project: Project) -> None:
    project.write(
        "factory",
        """
        def make(factor, label):
            def task(x):
                return x * factor, label
            return task
        """,
    )
    module = project.load("factory")
    three = task_identity(module.make(3, "a"))
    assert task_identity(module.make(3, "a")).task_id == three.task_id
    assert task_identity(module.make(4, "a")).task_id != three.task_id
    assert task_identity(module.make(3, ("a",))).task_id != three.task_id
    # a mutable cell counts by its type only
    assert (
        task_identity(module.make([1], "a")).task_id == task_identity(module.make([2], "a")).task_id
    )


def test_closure_functions_are_followed(project: Project) -> None:
    source = """
        def square(x):
            return x * x

        def make(step):
            def task(x):
                return step(x)
            return task

        task = make(square)
    """
    project.write("closures", source)
    before = project.identity("closures")
    assert "closures.square" in before.components
    project.write("closures", source.replace("x * x", "x ** 3"))
    assert changed(before, project.identity("closures")) == {"closures.square"}


def test_lambdas_and_comprehensions_count(project: Project) -> None:
    source = """
        def task(xs):
            key = lambda x: -x
            return sorted([x + 1 for x in xs], key=key)
    """
    project.write("nested", source)
    before = project.identity("nested")
    project.write("nested", source.replace("-x", "x"))
    after = project.identity("nested")
    project.write("nested", source.replace("x + 1", "x + 2"))
    again = project.identity("nested")
    assert len({before.task_id, after.task_id, again.task_id}) == 3


def test_default_values_count(project: Project) -> None:
    source = """
        def helper(x, scale=2):
            return x * scale

        def task(x):
            return helper(x)
    """
    project.write("defaults", source)
    before = project.identity("defaults")
    project.write("defaults", source.replace("scale=2", "scale=3"))
    assert changed(before, project.identity("defaults")) == {"defaults.helper"}


def test_decorated_helpers_are_followed(project: Project) -> None:
    project.write(
        "deco",
        """
        import functools

        def logged(func):
            @functools.wraps(func)
            def wrapper(*args):
                return func(*args)
            return wrapper
        """,
    )
    source = """
        import functools
        from deco import logged

        @logged
        def helper(x):
            return x + 1

        @functools.lru_cache(maxsize=None)
        def cached(x):
            return x * 2

        def task(x):
            return helper(x) + cached(x)
    """
    project.write("decorated", source)
    before = project.identity("decorated")
    project.write("decorated", source.replace("x + 1", "x + 5"))
    after = project.identity("decorated")
    assert after.task_id != before.task_id
    assert any(key.startswith("decorated.helper") for key in changed(before, after))
    project.write("decorated", source.replace("x * 2", "x * 7"))
    assert changed(before, project.identity("decorated")) == {"decorated.cached"}


def test_tasks_calling_tasks_are_followed(project: Project) -> None:
    project.write(
        "fakeflight",
        """
        import functools

        class Task:  # like a flightlog task: a callable object wrapping the function
            def __init__(self, function):
                self.function = function
                functools.update_wrapper(self, function)

            def __call__(self, *args):
                return self.function(*args)
        """,
    )
    source = """
        from fakeflight import Task

        @Task
        def inner(x):
            return x + 1

        @Task
        def task(x):
            return inner(x)
    """
    project.write("chained", source)
    before = project.identity("chained")
    assert before.name == "chained.task"
    project.write("chained", source.replace("x + 1", "x + 2"))
    assert changed(before, project.identity("chained")) == {"chained.inner"}


def test_classes_count_by_their_methods(project: Project) -> None:
    source = """
        class Model:
            RATE = 2

            def __init__(self, x):
                self.x = x

            def predict(self):
                return self.x * self.RATE

        def task(x):
            return Model(x).predict()
    """
    project.write("models", source)
    before = project.identity("models")
    assert "models.Model" in before.components
    project.write("models", source.replace("self.x * self.RATE", "self.x + self.RATE"))
    assert changed(before, project.identity("models")) == {"models.Model.predict"}
    project.write("models", source.replace("RATE = 2", "RATE = 3"))
    assert changed(before, project.identity("models")) == {"models.Model"}


def test_instances_count_by_their_class_code_not_their_state(project: Project) -> None:
    source = """
        class Scaler:
            def __init__(self, factor):
                self.factor = factor

            def __call__(self, x):
                return x * self.factor

        scale = Scaler(2)

        def task(x):
            return scale(x)
    """
    project.write("instances", source)
    module = project.load("instances")
    before = task_identity(module.task)
    assert "instances.Scaler" in before.components
    module.scale.factor = 3
    fresh = types.FunctionType(module.task.__code__, module.task.__globals__)
    assert task_identity(fresh).task_id == before.task_id
    project.write("instances", source.replace("x * self.factor", "x + self.factor"))
    assert changed(before, project.identity("instances")) == {"instances.Scaler.__call__"}


def test_methods_as_tasks_cover_their_class(project: Project) -> None:
    source = """
        class Job:
            def run(self, x):
                return self.step(x)

            def step(self, x):
                return x + 1
    """
    project.write("jobs", source)
    module = project.load("jobs")
    before = task_identity(module.Job.run)
    assert before.name == "jobs.Job.run"
    assert task_identity(module.Job().run).task_id == before.task_id
    project.write("jobs", source.replace("x + 1", "x + 2"))
    assert changed(before, task_identity(project.load("jobs").Job.run)) == {"jobs.Job.step"}


def test_imports_inside_the_function_are_followed(project: Project) -> None:
    project.write("helpers", HELPERS)
    project.write("pkg/__init__", "")
    project.write("pkg.tools", "def tool(x):\n    return x\n")
    project.write(
        "local",
        """
        def task(x):
            import helpers
            import pkg.tools
            from helpers import double
            return helpers.offset(x) + double(x) + pkg.tools.tool(x)
        """,
    )
    before = project.identity("local")
    assert {"helpers.offset", "helpers.double", "pkg.tools.tool"} <= set(before.components)
    project.write("helpers", HELPERS.replace("return 2 * x", "return 3 * x"))
    after = project.identity("local")
    assert changed(before, after) == {"helpers.double"}
    project.write("pkg.tools", "def tool(x):\n    return -x\n")
    assert changed(after, project.identity("local")) == {"pkg.tools.tool"}


# ------------------------------------------------------------------ what is not followed


def test_stdlib_and_installed_packages_are_not_followed(project: Project) -> None:
    project.write(
        "external",
        """
        import json
        import os.path
        from collections import OrderedDict
        import pytest

        def task(x):
            pytest.approx(1)
            return json.dumps(OrderedDict(x=os.path.join("a", x)))
        """,
    )
    identity = project.identity("external")
    assert set(identity.components) == {"external.task"}


def test_recursion_and_mutual_recursion(project: Project) -> None:
    project.write(
        "ping",
        """
        import pong

        def ping(n):
            return 0 if n <= 0 else pong.pong(n - 1)

        def fact(n):
            return 1 if n <= 1 else n * fact(n - 1)

        def task(n):
            return ping(n) + fact(n)
        """,
    )
    project.write(
        "pong",
        """
        import ping

        def pong(n):
            return ping.ping(n - 1)
        """,
    )
    identity = project.identity("ping")
    assert {"ping.ping", "ping.fact", "pong.pong"} <= set(identity.components)
    assert identity.components.keys() == {"ping.task", "ping.ping", "ping.fact", "pong.pong"}
    assert project.identity("ping").task_id == identity.task_id
    recursive = project.load("ping").fact
    assert task_identity(recursive).components.keys() == {"ping.fact"}


def test_tasks_in_an_installed_package(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A task inside an installed package follows that package, not other installed ones."""
    import flightlog.identity as identity_module

    site = tmp_path / "site-packages"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    roots = (*identity_module._library_paths(), os.path.join(os.path.realpath(site), ""))
    monkeypatch.setattr(identity_module, "_library_roots", [roots])
    source = "import vendor.util\n\ndef job(x):\n    return vendor.util.helper(x)\n"
    (site / "vendor").mkdir()
    (site / "vendor" / "__init__.py").write_text("")
    (site / "vendor" / "util.py").write_text("def helper(x):\n    return x + 1\n")
    (site / "vendor" / "jobs.py").write_text(source)
    project.names.add("vendor")
    project.write("mine", "from vendor.util import helper\n\ndef task(x):\n    return helper(x)\n")
    installed = project.identity("vendor.jobs", "job")
    assert "vendor.util.helper" in installed.components
    mine = project.identity("mine")
    assert set(mine.components) == {"mine.task"}  # installed code is not followed
    (site / "vendor" / "util.py").write_text("def helper(x):\n    return x + 2\n")
    assert changed(installed, project.identity("vendor.jobs", "job")) == {"vendor.util.helper"}
    assert project.identity("mine").task_id == mine.task_id


def test_callables_as_argument_values(pipeline: Project) -> None:
    helper = pipeline.load("pipeline").helper
    before = value_digest(helper)
    assert value_digest(helper) == before
    pipeline.write("pipeline", PIPELINE.replace("return x * SCALE", "return x * SCALE + 1"))
    assert value_digest(pipeline.load("pipeline").helper) != before
    # library functions count by name only: stable, and distinct from each other
    assert value_digest(json.dumps) == value_digest(json.dumps)
    assert value_digest(json.dumps) != value_digest(json.loads)


# ----------------------------------------------------------------------------- versions


def test_version_replaces_the_code_part(pipeline: Project) -> None:
    before = pipeline.identity("pipeline", version="2")
    assert before.version == "2"
    assert before.components == {}
    pipeline.write("pipeline", PIPELINE.replace("+ double(x)", "* double(x)"))
    assert pipeline.identity("pipeline", version="2").task_id == before.task_id
    assert pipeline.identity("pipeline", version="3").task_id != before.task_id
    assert pipeline.identity("pipeline").task_id != before.task_id
    assert pipeline.identity("pipeline", version="2", name="x").task_id != before.task_id


# ------------------------------------------------------------------- __main__ vs import

_PRINT = """
import json, sys
from flightlog.identity import task_identity
{source}
identity = task_identity(task)
print(json.dumps([identity.name, identity.task_id, identity.components]))
"""


def _run(args: list[str], cwd: Path, seed: str = "0") -> list[Any]:
    path = os.pathsep.join([SRC, str(cwd)])
    env = dict(os.environ, PYTHONPATH=path, PYTHONHASHSEED=seed)
    done = subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, check=True
    )
    result: list[Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_main_script_and_import_agree(tmp_path: Path) -> None:
    # three processes with three hash seeds: names, ids and components must all agree
    (tmp_path / "helpers.py").write_text(textwrap.dedent(HELPERS))
    main_block = textwrap.dedent(PIPELINE) + (
        "\n\nif __name__ == '__main__':\n"
        "    import json\n"
        "    from flightlog.identity import task_identity\n"
        "    identity = task_identity(task)\n"
        "    print(json.dumps([identity.name, identity.task_id, identity.components]))\n"
    )
    (tmp_path / "pipeline.py").write_text(main_block)
    as_script = _run(["pipeline.py"], tmp_path, seed="1")
    as_module = _run(["-m", "pipeline"], tmp_path, seed="2")
    imported = _run(["-c", _PRINT.format(source="from pipeline import task")], tmp_path, "3")
    assert as_script[0] == "pipeline.task"
    assert as_script == imported
    assert as_module == imported


def test_main_script_in_a_package(tmp_path: Path) -> None:
    package = tmp_path / "proj" / "jobs"
    package.mkdir(parents=True)
    (tmp_path / "proj" / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "run.py").write_text(
        "def task(x):\n    return x\n\n"
        "if __name__ == '__main__':\n"
        "    import json\n"
        "    from flightlog.identity import task_identity\n"
        "    identity = task_identity(task)\n"
        "    print(json.dumps([identity.name, identity.task_id, identity.components]))\n"
    )
    as_script = _run([str(package / "run.py")], tmp_path)
    imported = _run(["-c", _PRINT.format(source="from proj.jobs.run import task")], tmp_path)
    assert as_script[0] == "proj.jobs.run.task"
    assert as_script == imported


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("bad", [3, "pipeline.task", None, [len]])
def test_non_callables_are_refused(bad: Any) -> None:
    with pytest.raises(NotATaskError, match="needs a function") as caught:
        task_identity(bad)
    assert isinstance(caught.value, InvalidInputError)
    assert isinstance(caught.value, FlightlogError)
    assert isinstance(caught.value, TypeError)
    with pytest.raises(NotATaskError):
        qualified_name(bad)


def test_bad_names_and_versions() -> None:
    with pytest.raises(InvalidInputError):
        task_identity(len, name="")
    with pytest.raises(InvalidInputError):
        task_identity(len, version=2)  # type: ignore[arg-type]


def test_other_callables() -> None:
    assert qualified_name(len) == "builtins.len"
    assert task_identity(len).name == "builtins.len"
    assert task_identity(len).task_id == task_identity(len).task_id
    assert qualified_name(json.dumps) == "json.dumps"

    class Callable_:
        def __call__(self) -> int:
            return 1

    instance = Callable_()
    assert qualified_name(instance).endswith("Callable_")
    assert len(task_identity(instance).task_id) == 32


def test_identity_of_a_test_function() -> None:
    identity = task_identity(changed)
    assert identity.name == f"{__name__}.changed"
    assert identity.components.keys() == {f"{__name__}.changed"}
    assert value_digest(changed) == value_digest(changed)
