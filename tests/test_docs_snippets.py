"""Every ```python block of README.md and docs/*.md runs as pasted, in an empty directory.

Each block runs in its own Python process (as a reader runs it), with the working directory a
fresh empty temporary directory and this checkout's package importable — so a snippet that
relies on a name defined elsewhere, a file that is not there or an API that changed fails
here, and docs cannot rot.  A block that imports torch is skipped outside CI when torch is
missing (under CI=true torch is required, as for every PyTorch comparison).
"""

import importlib.util
import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))
FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.DOTALL | re.MULTILINE)
TIMEOUT_S = 180          # per snippet; each is meant to take seconds


def python_blocks(path: pathlib.Path):
    """(line number of the fence, source) of every ```python block of ``path``."""
    text = path.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start()) + 1, m.group(1)) for m in FENCE.finditer(text)]


SNIPPETS = [(path, line, src) for path in DOCS for line, src in python_blocks(path)]


def run_snippet(src: str, cwd: pathlib.Path) -> subprocess.CompletedProcess:
    assert not any(cwd.iterdir()), f"{cwd} is not empty"
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", MPLBACKEND="Agg", TINYGRAD_NGD_PROGRESS="0",
               PYTHONPATH=os.pathsep.join([str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    env.pop("TINYGRAD_NGD_BACKEND", None)
    return subprocess.run([sys.executable, "-c", src], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=TIMEOUT_S, check=False)


def test_the_docs_have_snippets():
    files = {path.name for path, _, _ in SNIPPETS}
    assert "README.md" in files and len(SNIPPETS) >= 8, [f"{p.name}:{n}" for p, n, _ in SNIPPETS]


@pytest.mark.parametrize("path, line, src", SNIPPETS, ids=[f"{p.relative_to(ROOT)}:{n}" for p, n, _ in SNIPPETS])
def test_snippet_runs_as_pasted_in_an_empty_directory(path, line, src, tmp_path):
    if re.search(r"^\s*(import torch|from torch)", src, re.MULTILINE) and importlib.util.find_spec("torch") is None:
        if os.environ.get("CI", "").lower() == "true":
            raise RuntimeError("CI=true but torch is not installed: the snippets that use it must run")
        pytest.skip("torch not installed; a snippet that uses it is skipped outside CI")
    work = tmp_path / "empty"
    work.mkdir()
    try:
        res = run_snippet(src, work)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{path.name}:{line}: the snippet took more than {TIMEOUT_S} s")
    assert res.returncode == 0, (f"{path.relative_to(ROOT)}:{line}: the ```python block fails when pasted "
                                 f"into an empty directory:\n{res.stderr[-3000:]}")


def test_a_fragment_fails(tmp_path):
    """The check can fail: a snippet using a name it never defined (the old docs' ``model``)."""
    work = tmp_path / "empty"
    work.mkdir()
    res = run_snippet("import tinygrad_ngd as tg\nparams = tg.FlatParameters(model)\n", work)
    assert res.returncode != 0 and "NameError" in res.stderr
    text = "intro\n\n```python\nprint(1)\n```\n\n```bash\nls\n```\n\n```python\nx = 2\n```\n"
    doc = tmp_path / "doc.md"
    doc.write_text(text)
    assert python_blocks(doc) == [(3, "print(1)\n"), (11, "x = 2\n")]
