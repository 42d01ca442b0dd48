"""Check the cupy-emulated stand-in's manifest against the installed real CuPy.

    python tools/check_cupy_manifest.py        # exit 0: every name exists in real CuPy

Two checks:

1. every name of ``tinygrad_ngd/_cupy_emulated/manifest.txt`` exists in the installed
   ``cupy``/``cupyx`` (cupy-cuda12x 14.2.0 imports without a GPU; only device calls fail),
   in the namespace of its section; the ``[cupy:as-is]`` names are moreover the very
   objects NumPy has (CuPy shares dtypes, finfo and constants with NumPy);
2. the stand-in offers nothing outside the manifest (its public names per namespace equal
   the manifest's).

Exit status 1 with one line per problem otherwise; 2 when CuPy is not installed.
"""

from __future__ import annotations

import importlib
import sys

import numpy as np


def _resolve(root, dotted: str):
    obj = root
    for part in dotted.split(".")[1:]:
        obj = getattr(obj, part)
    return obj


def _public(obj) -> set:
    return {n for n in vars(obj) if not n.startswith("_")}


def check(sections: dict, cupy, cupyx) -> list:
    problems = []
    for section, names in sections.items():
        space = section.split(":")[0]
        root = cupyx if space.startswith("cupyx") else cupy
        try:
            where = _resolve(root, space)
        except AttributeError:
            problems.append(f"[{section}]: real CuPy has no namespace {space}")
            continue
        for n in names:
            if not hasattr(where, n):
                problems.append(f"[{section}] {n}: not in real {space}")
            elif section == "cupy:as-is" and getattr(where, n) is not getattr(np, n, None) \
                    and not isinstance(getattr(np, n, None), float):
                problems.append(f"[{section}] {n}: real CuPy's object is not NumPy's; emulate it instead")
    return problems


def check_stand_in_offers_only_the_manifest(sections: dict) -> list:
    from tinygrad_ngd._cupy_emulated import cupy as ecp  # noqa: PLC0415
    from tinygrad_ngd._cupy_emulated import cupyx as ecx

    problems = []
    modules = {"cupy": ecp, "cupyx": ecx, "cupy.linalg": ecp.linalg,
               "cupy.lib.stride_tricks": ecp.lib.stride_tricks}
    listed = {k: set() for k in modules}
    for section, names in sections.items():
        listed.setdefault(section.split(":")[0], set()).update(names)
    listed["cupy"] |= {"ndarray", "linalg", "lib", "cuda"}  # sub-namespaces and the array type
    allowed_module_attrs = {"annotations", "types", "np", "TransferCounter"}
    for space, mod in modules.items():
        offered = {n for n in _public(mod) if not isinstance(vars(mod)[n], type(sys))}
        offered |= {n for n in _public(mod) if isinstance(vars(mod)[n], type(sys)) and n in listed[space]}
        extra = offered - listed[space] - allowed_module_attrs
        for n in sorted(extra):
            problems.append(f"stand-in {space}.{n}: offered but not in the manifest")
    from tinygrad_ngd._cupy_emulated._core import ndarray  # noqa: PLC0415

    methods = {n for n in dir(ndarray) if not n.startswith("_")}
    for n in sorted(methods - listed.get("cupy.ndarray", set())):
        problems.append(f"stand-in cupy.ndarray.{n}: offered but not in the manifest")
    dunders = {n for n in dir(ndarray) if n.startswith("__") and n.endswith("__")}
    import cupy as real  # noqa: PLC0415

    for n in sorted(dunders - set(dir(real.ndarray)) - {"__slots__", "__weakref__", "__dict__"}):
        problems.append(f"stand-in cupy.ndarray.{n}: real CuPy's ndarray has no such protocol")
    return problems


def main() -> int:
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))
    from tinygrad_ngd._cupy_emulated import _manifest  # noqa: PLC0415

    try:
        cupy = importlib.import_module("cupy")
        cupyx = importlib.import_module("cupyx")
    except ImportError as exc:
        print(f"error: real CuPy is not installed ({exc}); pip install cupy-cuda12x==14.2.0",
              file=sys.stderr)
        return 2
    sections = _manifest.read()
    problems = check(sections, cupy, cupyx) + check_stand_in_offers_only_the_manifest(sections)
    for p in problems:
        print(p)
    n = sum(len(v) for v in sections.values())
    print(f"{'FAIL' if problems else 'ok'}: {n} manifest names against cupy {cupy.__version__}"
          f" ({len(problems)} problems)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
