"""Read ``manifest.txt``: namespace -> the CuPy names the stand-in offers there."""

from __future__ import annotations

import os

PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "manifest.txt")


def read(path: str = PATH) -> dict:
    sections: dict = {}
    current = None
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            if line.startswith("[") and line.endswith("]"):
                current = sections.setdefault(line[1:-1], [])
            elif current is None:
                raise ValueError(f"{path}: names before the first [section]")
            else:
                current.extend(line.split())
    return sections
