"""Progress bars for long loops: tqdm when it is installed and someone is watching.

A bar is shown only when standard output is a terminal, so logs, pipes, CI and the
tests see clean output; ``TINYGRAD_NGD_PROGRESS=1`` forces bars on, ``=0`` off.
tqdm is optional (the ``plot`` extra): without it :func:`progress` returns a silent
stand-in with the same ``set_postfix`` / ``update`` / ``close`` methods, so callers never
test for it.
"""

from __future__ import annotations

import os
import sys

ENV_VAR = "TINYGRAD_NGD_PROGRESS"


def bars_enabled(stream=None) -> bool:
    """Whether bars should be drawn: the environment's word, else "stdout is a terminal"."""
    forced = os.environ.get(ENV_VAR, "").strip().lower()
    if forced in ("1", "true", "yes", "on"):
        return True
    if forced in ("0", "false", "no", "off"):
        return False
    stream = sys.stdout if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or replaced stream
        return False


class _SilentBar:
    """What :func:`progress` returns when no bar is drawn: iterates, ignores the rest."""

    def __init__(self, iterable=None, total=None):
        self.iterable = iterable
        self.total = total

    def __iter__(self):
        return iter(self.iterable if self.iterable is not None else ())

    def set_postfix(self, *args, **kwargs):
        pass

    def set_description(self, *args, **kwargs):
        pass

    def update(self, n=1):
        pass

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def progress(iterable=None, total=None, desc: str | None = None, unit: str = "it",
             leave: bool = False, enabled: bool | None = None):
    """A tqdm bar over ``iterable`` (or a manual bar of ``total`` steps) when bars are
    enabled and tqdm is importable; otherwise a silent stand-in.

    Use ``bar.set_postfix(loss=..., lr=...)`` to show the numbers of the moment.
    """
    show = bars_enabled() if enabled is None else bool(enabled)
    if show:
        try:
            from tqdm.auto import tqdm
        except ImportError:
            show = False
    if not show:
        return _SilentBar(iterable, total)
    return tqdm(iterable, total=total, desc=desc, unit=unit, leave=leave, dynamic_ncols=True)
