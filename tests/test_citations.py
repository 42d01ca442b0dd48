"""A user has the public texts, not the team's copies: no tracked file cites the copies.

The five source texts are cited by key and section ([Yu et al. 2017, §4.1], [Misra, "PRONG"],
…; docs/references.md lists them), never by the copies' folder, a copy's file name (a number,
an underscore and 16 hex digits) or a copy's number ("note" and a three-digit number).  The
examples below are assembled from pieces so that this file does not cite them itself.
"""

import pathlib
import re
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent

# the copies' folder; a copy's file name (number, underscore, 16 hex digits); "note" + a copy's number
FORBIDDEN = re.compile(r"shared" r"/notes|\b0[0-9]{2}_[0-9a-f]{16}\b|\b[Nn]otes?\s+0" r"0[0-4]\b")
KEYS = ["[Kolasiński 2018]", "[Yu et al. 2017]", "[Misra]", "[Soto]", "[Ravasi]"]


def tracked_text_files():
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout (an installed copy has no tracked files to check)")
    for name in out.decode().split("\0"):
        path = ROOT / name
        if not name or not path.is_file():
            continue
        data = path.read_bytes()
        if b"\0" in data[:8192]:           # binary (PNG, gzip, …)
            continue
        try:
            yield name, data.decode("utf-8")
        except UnicodeDecodeError:
            continue


def offending_lines(text: str) -> list:
    return [(n, line.strip()[:100]) for n, line in enumerate(text.splitlines(), 1) if FORBIDDEN.search(line)]


def test_the_pattern_catches_every_form_of_citing_a_copy():
    folder, name, note = "shared" + "/notes", "00" + "1_98c6ef706a98c477.txt", "note" + " 00"
    for bad in (f"see ../{folder}/README.md", f"({name})", f"{note}1 §4.4", f"N{note[1:]}4's bound",
                f"{note[:4]}s 002, 003", f"({note}0)"):
        assert FORBIDDEN.search(bad), bad
    for good in ("[Yu et al. 2017, §4.4]", "[Ravasi]'s bound", "test_adam_default_is_note_004_with_delta",
                 "the notes say", "footnote 2", "lr 0.001"):
        assert not FORBIDDEN.search(good), good


def test_no_tracked_file_cites_the_copies_of_the_notes():
    found = {}
    for name, text in tracked_text_files():
        bad = offending_lines(text)
        if bad:
            found[name] = bad
    shown = "\n".join(f"  {name}:{n}: {line}" for name, lines in sorted(found.items())[:15] for n, line in lines[:2])
    assert not found, (f"{sum(map(len, found.values()))} lines in {len(found)} files cite our copies of the notes; "
                       f"cite the public source by key (docs/references.md) instead, e.g.\n{shown}")


def test_references_list_every_key_with_where_to_find_it():
    text = (ROOT / "docs" / "references.md").read_text(encoding="utf-8")
    for key in KEYS + ["[Desjardins et al. 2015]"]:
        assert f"| {key} |" in text, f"docs/references.md has no row for {key}"
    for where in ("github.com/kmkolasinski/deep-learning-notes", "arxiv.org/abs/1707.04822",
                  "arxiv.org/abs/1507.00210", "github.com/DIG-Kaust/MLgeoscience", "Carnegie Mellon",
                  "Pontificia Universidad Católica de Chile"):
        assert where in text, f"docs/references.md does not say {where!r}"
