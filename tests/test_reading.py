"""Reading is harmless: no query, export or CLI command imports user code to read a record, a
stored value names a class that is used only if its module is imported already (or the reader
allowed it), and commands that must import user code to act say so and stay in the working
tree unless told."""

from __future__ import annotations

import importlib
import inspect
import io
import json
import logging
import os
import re
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import flightlog
from flightlog import cli
from flightlog.codec import Undecoded, decode
from flightlog.model import Run, Status, Step
from flightlog.runlog import recorded_signature, run_parameters
from flightlog.runtime.task import parameter_names
from flightlog.runtime.workflow import Workflow

SUBPROCESS_SECONDS = 120

GUARDLESS = textwrap.dedent(
    """
    import flightlog

    fl = flightlog.open()

    @fl.task
    def double(x):
        return 2 * x

    @fl.workflow
    def pipeline(epochs, *extra, label="x", **options):
        return double(epochs)

    with open("side-effects.txt", "a") as out:  # no __main__ guard: runs at every import
        out.write("ran\\n")
    pipeline(2, label="y")
    """
)


def run_python(*args: str, cwd: Path, url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FLIGHTLOG_URL": url}
    env.pop("PYTHONPATH", None)
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_SECONDS,
    )


@pytest.fixture
def guardless(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str]]:
    """A run recorded by ``python flightlog_guardless.py``, a script without a ``__main__``
    guard, in the working directory (on sys.path, as for ``python -m`` or a notebook there).
    Yields the store's URL and the run's id."""
    name = "flightlog_guardless"
    url = f"sqlite:///{tmp_path}/store.db"
    (tmp_path / f"{name}.py").write_text(GUARDLESS)
    done = run_python(f"{name}.py", cwd=tmp_path, url=url)
    assert done.returncode == 0, done.stderr
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FLIGHTLOG_URL", url)
    monkeypatch.syspath_prepend(str(tmp_path))
    with flightlog.open(url) as fl:
        (run,) = fl.list_runs()
    try:
        yield url, run["run_id"]
    finally:
        sys.modules.pop(name, None)


def side_effects(folder: Path) -> int:
    path = folder / "side-effects.txt"
    return len(path.read_text().splitlines()) if path.exists() else 0


# ------------------------------------------------------------ run logs name parameters from records


def test_run_log_reads_parameter_names_from_the_record(
    guardless: tuple[str, str], tmp_path: Path
) -> None:
    url, run_id = guardless
    with flightlog.open(url) as fl:
        log = fl.run_log(run_id)
        assert log["parameters"] == {"epochs": 2, "label": "y"}
        assert len(fl.list_runs()) == 1
        entry = fl.get_metadata(run_id)["environment"]["entry"]
    assert entry["parameters"] == ["epochs", "*extra", "label", "**options"]
    assert side_effects(tmp_path) == 1
    assert "flightlog_guardless" not in sys.modules


def test_show_run_log_on_the_command_line_runs_no_user_code(
    guardless: tuple[str, str], tmp_path: Path
) -> None:
    url, run_id = guardless
    shown = run_python(
        "-m", "flightlog", "show", run_id, "--format", "run-log", cwd=tmp_path, url=url
    )
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["parameters"] == {"epochs": 2, "label": "y"}
    listed = run_python("-m", "flightlog", "runs", "--json", cwd=tmp_path, url=url)
    assert len(json.loads(listed.stdout)) == 1  # no second run
    assert side_effects(tmp_path) == 1  # and the script's side effect did not happen again


def test_parameters_of_runs_recorded_without_names(
    guardless: tuple[str, str], tmp_path: Path
) -> None:
    """Runs recorded before names were recorded: keyword arguments by name, positional ones
    as ``args[i]`` (never confused with a parameter: brackets are not in names)."""
    url, _ = guardless
    with flightlog.open(url) as fl:
        fl.store.create_run(
            Run(
                run_id="old",
                workflow="pipeline",
                status=Status.SUCCESSFUL,
                arguments='{"args":[2,3],"kwargs":{"label":"y"}}',
                created_time=time.time(),
                start_time=time.time(),
                environment={"entry": {"module": "flightlog_guardless", "qualname": "pipeline"}},
            )
        )
        assert fl.run_log("old")["parameters"] == {"args[0]": 2, "args[1]": 3, "label": "y"}
    assert side_effects(tmp_path) == 1
    assert "flightlog_guardless" not in sys.modules


def test_lone_task_runs_record_their_parameter_names() -> None:
    with flightlog.open("memory://") as fl:

        @fl.task
        def scale(value: int, /, factor: int = 2, *, offset: int = 0) -> int:
            return value * factor + offset

        scale(3, offset=1)
        (run,) = fl.list_runs()
        assert run["environment"]["entry"]["parameters"] == ["value", "/", "factor", "*", "offset"]
        assert fl.run_log(run["run_id"])["parameters"] == {"value": 3, "offset": 1}


@pytest.mark.parametrize(
    "source",
    [
        "def f(): ...",
        "def f(a, b=1): ...",
        "def f(a, /): ...",
        "def f(a, /, b, *rest, c, d=1, **more): ...",
        "def f(*, c): ...",
        "def f(a, /, *, c): ...",
        "def f(**more): ...",
    ],
)
def test_recorded_parameters_give_the_signature_back(source: str) -> None:
    namespace: dict[str, Any] = {}
    exec(source, namespace)
    signature = inspect.signature(namespace["f"])
    names = parameter_names(signature)
    run = Run(run_id="r", workflow="f", environment={"entry": {"parameters": names}})
    back = recorded_signature(run)
    assert back is not None
    expected = [(p.name, p.kind) for p in signature.parameters.values()]
    assert [(p.name, p.kind) for p in back.parameters.values()] == expected


@pytest.mark.parametrize("names", [["a", 1], ["a=1"], "a", ["a", "a"], ["**k", "a"], None])
def test_malformed_recorded_parameters_are_ignored(names: object) -> None:
    run = Run(
        run_id="r",
        workflow="f",
        arguments='{"args":[1],"kwargs":{"k":2}}',
        environment={"entry": {"parameters": names}},
    )
    assert recorded_signature(run) is None
    assert run_parameters(run) == {"args[0]": 1, "k": 2}


# ------------------------------------------------------------ stored class names import nothing

EVIL = textwrap.dedent(
    """
    import dataclasses
    import pathlib

    with open(pathlib.Path(__file__).with_name("imported.txt"), "a") as out:
        out.write("imported\\n")

    @dataclasses.dataclass
    class Point:
        x: int
    """
)


@pytest.fixture
def crafted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str, Path]]:
    """A store whose run "crafted" holds values naming a class of an importable module with
    an import-time side effect (it appends to ``imported.txt``). Yields the URL, the module's
    name and the side effect's file."""
    module = f"flightlog_evil_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(EVIL)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    value = json.dumps(
        {"__flightlog__": "dataclass", "class": f"{module}:Point", "fields": {"x": 1}}
    )
    url = f"sqlite:///{tmp_path}/crafted.db"
    now = time.time()
    with flightlog.open(url) as fl:
        fl.store.create_run(
            Run(
                run_id="crafted",
                workflow="w",
                status=Status.RUNNING,
                arguments=f'{{"args":[{value}],"kwargs":{{}}}}',
                created_time=now,
                start_time=now,
            )
        )
        step = Step(
            run_id="crafted",
            name="s",
            position=0,
            task_name="s",
            task_id="t",
            execution_id="e",
            status=Status.SUCCESSFUL,
            start_time=now,
            end_time=now,
            arguments=f'{{"p":{value}}}',
            result=value,
        )
        fl.store.start_step(step)
        fl.store.finish_step(step)
        fl.store.finish_run("crafted", status=Status.SUCCESSFUL, end_time=now, output=value)
    try:
        yield url, module, tmp_path / "imported.txt"
    finally:
        sys.modules.pop(module, None)


def assert_placeholder(value: object, module: str) -> None:
    assert isinstance(value, Undecoded)
    assert value.kind == "dataclass" and value.type_name == f"{module}:Point"
    assert value.data == {"x": 1}
    assert f"module {module!r} is not imported" in repr(value)
    assert "allow_imports" in repr(value)


def test_queries_of_a_crafted_store_import_nothing(crafted: tuple[str, str, Path]) -> None:
    url, module, imported = crafted
    with flightlog.open(url) as fl:
        assert_placeholder(fl.get_output("crafted"), module)
        assert_placeholder(fl.get_step_result("crafted", "s"), module)
        assert_placeholder(fl.get_metadata("crafted")["arguments"]["args"][0], module)
        assert_placeholder(fl.get_metadata("crafted", name="s")["arguments"]["p"], module)
        assert_placeholder(fl.list_runs()[0]["arguments"]["args"][0], module)
        assert_placeholder(fl.steps("crafted")[0]["arguments"]["p"], module)
        fl.run_log("crafted")
        fl.explain("crafted", "s")
        fl.plan_resume("crafted")
    for command in (["show", "crafted"], ["show", "crafted", "--json"], ["runs", "--json"]):
        out = io.StringIO()
        assert cli.main([*command, "--url", url], out=out) == 0
        assert f"{module}:Point" in out.getvalue()
    assert not imported.exists()
    assert module not in sys.modules


@pytest.mark.parametrize("allowed", [True, "module", "prefix"])
def test_readers_may_allow_imports(crafted: tuple[str, str, Path], allowed: object) -> None:
    url, module, imported = crafted
    option = {True: True, "module": [module], "prefix": (module, "other.package")}[allowed]
    with flightlog.open(url, allow_imports=option) as fl:
        output = fl.get_output("crafted")
    assert type(output).__name__ == "Point" and type(output).__module__ == module
    assert output.x == 1  # type: ignore[attr-defined]
    assert imported.read_text() == "imported\n"


def test_allowed_modules_match_whole_dotted_names(crafted: tuple[str, str, Path]) -> None:
    url, module, imported = crafted
    with flightlog.open(url, allow_imports=[module[:-1], f"{module}.sub"]) as fl:
        assert_placeholder(fl.get_output("crafted"), module)
    assert not imported.exists()
    text = json.dumps({"__flightlog__": "enum", "class": "json.decoder:Nope", "value": 1})
    assert isinstance(decode(text, allow_imports=["json"], placeholders=True), Undecoded)


def test_the_command_line_may_allow_imports(crafted: tuple[str, str, Path]) -> None:
    url, module, imported = crafted
    out = io.StringIO()
    assert (
        cli.main(["show", "crafted", "--json", "--url", url, "--allow-import", module], out=out)
        == 0
    )
    assert imported.read_text() == "imported\n"
    assert "Point(x=1)" in out.getvalue()


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("pipeline", "a list of module names"),
        ([1], "module names must be strings"),
        (["my module"], "'my module' is not a module name"),
        ([""], "'' is not a module name"),
        ({"a": 1}, "a list of module names"),
    ],
)
def test_bad_allow_imports_is_refused(option: object, message: str) -> None:
    with pytest.raises(flightlog.ConfigurationError, match=message):
        flightlog.open("memory://", allow_imports=option)


def test_codec_decodes_classes_of_imported_modules_only() -> None:
    text = json.dumps({"__flightlog__": "dataclass", "class": "flightlog_nowhere:P", "fields": {}})
    with pytest.raises(flightlog.SerializationError, match="'flightlog_nowhere' is not imported"):
        decode(text)
    placeholder = decode(text, placeholders=True)
    assert isinstance(placeholder, Undecoded) and placeholder.data == {}
    assert placeholder == decode(text, placeholders=True)
    assert "flightlog_nowhere" not in sys.modules


def test_a_replay_needs_the_class_imported_or_allowed(
    crafted: tuple[str, str, Path], tmp_path: Path
) -> None:
    """Resuming in-process: a recorded result whose class's module is not imported here (the
    task imported it in its body, and the replay does not run the body) is not replayed as a
    placeholder; the error says how to allow the import, and then it replays."""
    _, module, imported = crafted
    url = f"sqlite:///{tmp_path}/replay.db"
    fail = [True]

    def define(fl: flightlog.Flightlog) -> Workflow[object]:
        @fl.task
        def make() -> object:
            return importlib.import_module(module).Point(1)

        @fl.workflow
        def flow() -> object:
            point = make()
            if fail[0]:
                raise RuntimeError("later step failed")
            return point

        return flow

    with flightlog.open(url) as fl, pytest.raises(RuntimeError):
        define(fl).run(run_id="r")
    sys.modules.pop(module)
    imported.unlink()
    fail[0] = False
    with flightlog.open(url) as fl:
        define(fl)
        with pytest.raises(flightlog.SerializationError, match=rf"allow_imports=\['{module}'\]"):
            fl.resume("r")
        assert not imported.exists()
    with flightlog.open(url, allow_imports=[module]) as fl:
        define(fl)
        assert fl.resume("r").x == 1
        assert [step["origin"] for step in fl.steps("r")] == ["replayed"]
    assert imported.read_text() == "imported\n"


# ------------------------------------------------------------ commands that import user code

FLOW = textwrap.dedent(
    """
    import pathlib
    import flightlog

    with open(pathlib.Path(__file__).with_name("imports.txt"), "a") as out:
        out.write("imported\\n")

    fl = flightlog.open()

    @fl.task
    def check(n):
        if pathlib.Path("broken").exists():
            raise RuntimeError("broken")
        return n

    @fl.workflow
    def flow(n):
        return check(n)

    @fl.resource("tables")
    def load_table(ident, args, ctx):
        if pathlib.Path("broken").exists():
            raise RuntimeError("broken")
        return len(ident)
    """
)


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Path]]:
    """A failed run "r" and a failed resource of a module that lives outside the working
    directory (but on sys.path). Yields the module's name and its file."""
    module = f"flightlog_flow_{uuid.uuid4().hex[:8]}"
    code, work = tmp_path / "code", tmp_path / "work"
    code.mkdir()
    work.mkdir()
    path = code / f"{module}.py"
    path.write_text(FLOW)
    url = f"sqlite:///{tmp_path}/store.db"
    monkeypatch.setenv("FLIGHTLOG_URL", url)
    monkeypatch.chdir(work)
    monkeypatch.syspath_prepend(str(code))
    (work / "broken").touch()
    try:
        flow = __import__(module)
        with pytest.raises(RuntimeError):
            flow.flow.run(1, run_id="r")
        flow.fl.fetch_many("tables", ["a"])
        flow.fl.close()
        del sys.modules[module]
        (work / "broken").unlink()
        (code / "imports.txt").unlink()
        yield module, path
    finally:
        imported = sys.modules.pop(module, None)
        if imported is not None:
            imported.fl.close()


def refusal(module: str, path: Path) -> str:
    return (
        f"refusing to import module {module!r} from {path}: it is outside the working "
        f"directory {Path.cwd()}"
    )


def test_resume_refuses_a_module_outside_the_working_tree(elsewhere: tuple[str, Path]) -> None:
    module, path = elsewhere
    with flightlog.open() as fl:
        with pytest.raises(flightlog.ConfigurationError) as info:
            fl.resume("r")
        assert str(info.value).startswith(refusal(module, path))
        assert "allow_import_outside=True" in str(info.value)
        assert "\n" not in str(info.value)
        assert module not in sys.modules
        assert not (path.parent / "imports.txt").exists()


def test_resume_imports_when_told_and_says_so(
    elsewhere: tuple[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    module, path = elsewhere
    caplog.set_level(logging.INFO, logger="flightlog.imports")
    with flightlog.open() as fl:
        assert fl.resume("r", allow_import_outside=True) == 1
        assert fl.get_status("r") == "SUCCESSFUL"
    assert (path.parent / "imports.txt").read_text() == "imported\n"
    assert f"importing module {module!r} from {path} to resume run 'r'" in caplog.messages


def test_cli_resume_and_retry_refuse_then_import_when_told(
    elsewhere: tuple[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    module, path = elsewhere
    for command in (["resume", "r"], ["resources", "retry", "tables"]):
        assert cli.main(command, out=io.StringIO()) == 6  # a ConfigurationError
        err = capsys.readouterr().err
        assert err.startswith(f"flightlog: error: {refusal(module, path)}")
        assert "--allow-import-outside" in err and len(err.splitlines()) == 1
    assert module not in sys.modules
    out = io.StringIO()
    assert cli.main(["resume", "r", "--allow-import-outside"], out=out) == 0
    err = capsys.readouterr().err
    assert err == f"flightlog: importing module {module!r} from {path} to resume run 'r'\n"
    assert "SUCCESSFUL" in out.getvalue()
    sys.modules.pop(module).fl.close()
    out = io.StringIO()
    assert cli.main(["resources", "retry", "tables", "--allow-import-outside"], out=out) == 0
    err = capsys.readouterr().err
    expected = "to retry resource collection 'tables'"
    assert err == f"flightlog: importing module {module!r} from {path} {expected}\n"
    assert out.getvalue().startswith("retried 1 resource(s) of tables: 1 completed")


def test_modules_in_the_working_tree_are_imported_and_named(
    elsewhere: tuple[str, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    module, path = elsewhere
    monkeypatch.chdir(path.parent)
    assert cli.main(["resume", "r"], out=io.StringIO()) == 0
    assert capsys.readouterr().err == (
        f"flightlog: importing module {module!r} from {path} to resume run 'r'\n"
    )


def test_packages_are_located_without_importing_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flightlog.runtime.importing import locate_module

    package = tmp_path / f"flightlog_pkg_{uuid.uuid4().hex[:8]}"
    (package / "inner").mkdir(parents=True)
    (package / "__init__.py").write_text("raise RuntimeError('imported')\n")
    (package / "inner" / "__init__.py").write_text("raise RuntimeError('imported')\n")
    (package / "inner" / "flow.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    name = f"{package.name}.inner.flow"
    assert locate_module(name) == package / "inner" / "flow.py"
    assert locate_module(f"{package.name}.missing") is None
    assert package.name not in sys.modules


# ------------------------------------------------------------ the docs' example

POINTS = textwrap.dedent(
    """
    import dataclasses
    import flightlog

    fl = flightlog.open()

    @dataclasses.dataclass
    class Point:
        x: int

    @fl.workflow
    def make():
        return Point(1)
    """
)


def test_readme_reading_example(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path}/store.db"
    (tmp_path / "pipeline.py").write_text(POINTS)
    script = "import pipeline; pipeline.make.run(run_id='r'); pipeline.fl.close()"
    done = run_python("-c", script, cwd=tmp_path, url=url)
    assert done.returncode == 0, done.stderr
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FLIGHTLOG_URL", url)
    page = Path(__file__).resolve().parent.parent / "docs" / "guides" / "stores.md"
    section = page.read_text().split("## Reading is harmless", 1)[1]
    found = re.search(r"```python\n(.*?)```", section, re.S)
    assert found is not None, "stores.md has no example under 'Reading is harmless'"
    assert "pipeline" not in sys.modules
    try:
        exec(compile(found.group(1), str(page), "exec"), {"flightlog": flightlog, "url": url})
        assert capsys.readouterr().out == "pipeline:Point {'x': 1}\nPoint(x=1)\n"
    finally:
        imported = sys.modules.pop("pipeline", None)
        if imported is not None:
            imported.fl.close()


GUARDLESS_FAILING = textwrap.dedent(
    """
    import os
    import flightlog

    fl = flightlog.open()

    @fl.task
    def step(x):
        if os.environ.get("BROKEN"):
            raise RuntimeError("broken")
        return x + 1

    @fl.workflow
    def flow(x):
        return step(x)

    flow.run(1, run_id="g1")  # no __main__ guard: importing the module runs (or resumes) it
    """
)


def test_resume_of_a_guardless_script_says_that_importing_it_ran_the_run(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path}/store.db"
    (tmp_path / "flightlog_guardless_fail.py").write_text(GUARDLESS_FAILING)
    env = {**os.environ, "FLIGHTLOG_URL": url, "BROKEN": "1"}
    env.pop("PYTHONPATH", None)
    first = subprocess.run(
        [sys.executable, "flightlog_guardless_fail.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_SECONDS,
    )
    assert first.returncode != 0 and "broken" in first.stderr
    resumed = run_python("-m", "flightlog", "resume", "g1", cwd=tmp_path, url=url)
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed run g1: SUCCESSFUL, output 2" in resumed.stdout
    assert "ran the run itself" in resumed.stderr and "__main__" in resumed.stderr
    assert "claimed by another process" not in resumed.stderr


def test_resume_of_a_successful_run_imports_nothing(
    guardless: tuple[str, str], tmp_path: Path
) -> None:
    url, run_id = guardless
    (tmp_path / "flightlog_guardless.py").unlink()  # its code is gone: no need for it
    with flightlog.open(url) as fl:
        assert fl.resume(run_id) == 4
    assert side_effects(tmp_path) == 1


def test_resume_says_why_the_workflow_cannot_be_imported(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/store.db"
    with flightlog.open(url) as fl:
        store = fl.store
        run = Run(
            run_id="gone",
            workflow="vanished",
            status=Status.FAILED,
            environment={"entry": {"module": "no_such_module_here", "qualname": "vanished"}},
        )
        store.create_run(run)
        with pytest.raises(flightlog.NotFoundError, match=r"module 'no_such_module_here' cannot"):
            fl.resume("gone")
