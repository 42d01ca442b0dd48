"""Every numbered tutorial runs with ``--quick`` and writes its figures (CI runs all of them).

The list is found by glob, so a new ``tutorials/NN_name.py`` is picked up without editing
this file.  Each runs in its own process (as a user runs it) with a time limit.
"""

import os
import pathlib
import re
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent
TUTORIALS = sorted((REPO / "tutorials").glob("[0-9][0-9]_*.py"))
TIMEOUT_S = 300          # per tutorial; --quick is meant to take seconds
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _id(path):
    return path.stem


def test_the_tutorials_are_found():
    numbers = [int(p.name[:2]) for p in TUTORIALS]
    assert len(numbers) >= 3 and numbers == sorted(numbers)
    assert len(set(numbers)) == len(numbers), "two tutorials share a number"


@pytest.mark.parametrize("path", TUTORIALS, ids=_id)
def test_tutorial_names_its_note_and_takes_the_common_arguments(path):
    text = path.read_text()
    head = "\n".join(text.splitlines()[:15])
    assert text.startswith("#"), f"{path.name} must open with a comment naming the note it follows"
    assert re.search(r"\[(Kolasiński 2018|Yu et al\. 2017|Misra|Soto|Ravasi|Desjardins et al\. 2015)[,\]]", head), \
        f"{path.name}: no source ([Key, §…], docs/references.md) named in the opening comment"
    for flag in ("--backend", "--quick", "--out"):
        assert flag in text or "tutorial_parser" in text, f"{path.name}: missing {flag}"


@pytest.mark.parametrize("path", TUTORIALS, ids=_id)
def test_tutorial_quick_run_writes_png(path, tmp_path):
    out = tmp_path / "out"
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", MPLBACKEND="Agg", TINYGRAD_NGD_PROGRESS="0")
    env.pop("TINYGRAD_NGD_BACKEND", None)
    try:
        res = subprocess.run([sys.executable, str(path), "--quick", "--out", str(out)], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{path.name} --quick took more than {TIMEOUT_S} s")
    assert res.returncode == 0, f"{path.name} failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    pngs = sorted(out.rglob("*.png"))
    assert pngs, f"{path.name} wrote no PNG into --out {out}"
    for png in pngs:
        data = png.read_bytes()
        assert data[:8] == PNG_MAGIC and len(data) > 2000, f"{png} is not a real PNG"
    assert res.stdout.strip(), f"{path.name} printed nothing for the reader"
