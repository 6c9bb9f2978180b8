"""The example finder reads pages by the documented rules."""

from __future__ import annotations

from pathlib import Path

from tests.docs.examples import failure, matches, parse

PAGE = """# A page

```python
print("hello")
```

```text title="Output"
hello
```

<!-- no-run: needs a cluster -->
```python
raise SystemExit("never")
```

```console
$ flightlog --version
flightlog ...
```

<!-- sql -->
```sql
SELECT 1;
```

```sql
SELECT shown_only;
```
"""


def test_blocks_and_their_promises(tmp_path: Path) -> None:
    path = tmp_path / "page.md"
    path.write_text(PAGE)
    blocks = parse(path).blocks
    assert [b.kind for b in blocks] == ["python", "console", "sql"]
    assert blocks[0].text == 'print("hello")\n'
    assert blocks[0].line == 4
    assert blocks[0].expected == "hello\n"


def test_output_wildcards() -> None:
    assert matches("a\n...\nd\n", "a\nb\nc\nd\n")
    assert matches("a\n...\nd\n", "a\nd\n")
    assert matches("value: ...\n", "value: 42\n")
    assert not matches("a\nd\n", "a\nb\nd\n")
    assert not matches("value: 4\n", "value: 42\n")
    assert matches("x\n", "x   \n\n")


def test_a_command_that_must_fail_may_name_its_exit_status() -> None:
    assert failure("flightlog show x") == (False, None)
    assert failure("flightlog show x  # fails") == (True, None)
    assert failure("flightlog show x 2>&1  # fails: exit status 3") == (True, 3)
    assert failure("flightlog cancel x # fails: exit status 4 ") == (True, 4)
