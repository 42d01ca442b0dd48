"""docs/lecture_map.md is true: every `module.function` it names imports and exists, every
test it names exists, every file it names is there, and every item of the notes appears.

Resolution of a name in the implementation column (backticked):
* ``tinygrad_ngd.a.b.C.m`` — imported and walked attribute by attribute;
* a short name (``optimizers.norms.l2_norm``, ``Adam``, ``NGD(norm="linf")``, ``Newton.step``)
  — tried under ``tinygrad_ngd.`` and its subpackages (call arguments are stripped);
* a bare lower-case word after a resolved name in the same cell (``lr``, ``blocks``,
  ``average``) — must be an attribute, an argument or an identifier of the source of
  the last resolved object (its method, argument or attribute);
* ``tutorials/…``, ``docs/…``, ``tools/…`` paths — must exist;
* ``tinygrad_ngd/…/file.py:function`` — the file exists, defines that top-level function,
  and the function fits on one screen (an update rule read in one hop: <= 60 lines with
  its docstring).
"""

import importlib
import inspect
import pathlib
import re
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
MAP = ROOT / "docs" / "lecture_map.md"
SEARCH = ["tinygrad_ngd", "tinygrad_ngd.optimizers", "tinygrad_ngd.layers", "tinygrad_ngd.curvature",
          "tinygrad_ngd.datasets", "tinygrad_ngd.functional", "tinygrad_ngd.flat", "tinygrad_ngd.tensor",
          "tinygrad_ngd.training", "tinygrad_ngd.compare", "tinygrad_ngd.layers.module"]
NOT_CODE = {"—", "-", ""}


def table_rows():
    rows = []
    for lineno, line in enumerate(MAP.read_text().splitlines(), 1):
        s = line.strip()
        if not (s.startswith("| ") and s.endswith("|")) or s.startswith(("| source", "| ---")):
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", s[1:-1])]
        if len(cells) == 4:
            rows.append((lineno, cells))
    return rows


ROWS = table_rows()


def _walk(obj, parts):
    for p in parts:
        obj = getattr(obj, p)
    return obj


def resolve_dotted(name):
    """The object named by ``name`` (absolute or short), or None."""
    name = name.strip().rstrip(".,;")
    name = name.split("(")[0].strip()
    if not re.fullmatch(r"[A-Za-z_][\w.]*", name):
        return None
    candidates = [name] if name.startswith("tinygrad_ngd") else [f"{base}.{name}" for base in SEARCH]
    for full in candidates:
        parts = full.split(".")
        for i in range(len(parts), 0, -1):
            try:
                mod = importlib.import_module(".".join(parts[:i]))
            except ImportError:
                continue
            try:
                return _walk(mod, parts[i:])
            except AttributeError:
                if len(parts) - i >= 2:  # an instance attribute (``NewtonCG.last_result``): set in the class's code
                    try:
                        parent = _walk(mod, parts[i:-1])
                    except AttributeError:
                        break
                    if inspect.isclass(parent) and mentioned_by(parent, parts[-1]):
                        return parent
                break
    # a class's method or attribute named by the class alone (``Newton.step``): search the submodules
    head, *rest = name.split(".")
    for base in SEARCH:
        try:
            mod = importlib.import_module(base)
        except ImportError:
            continue
        for sub in dir(mod):
            obj = getattr(mod, sub, None)
            if inspect.ismodule(obj) and hasattr(obj, head):
                try:
                    return _walk(getattr(obj, head), rest)
                except AttributeError:
                    pass
    return None


def _sources(obj):
    """The objects whose source may mention an argument or attribute of ``obj``: the object, its
    class and base classes, and for a method its class."""
    out = [obj]
    if inspect.isfunction(obj) and "." in obj.__qualname__:
        owner = _walk(inspect.getmodule(obj), obj.__qualname__.split(".")[:-1])
        out.append(owner)
    for o in list(out):
        if inspect.isclass(o):
            out += [c for c in o.__mro__[1:] if c.__module__.startswith("tinygrad_ngd")]
    home = obj if inspect.ismodule(obj) else inspect.getmodule(obj)
    if home is not None:
        out.append(home)         # e.g. a field of the result record the method returns
    return out


def mentioned_by(obj, word):
    """``word`` is an attribute, an argument or an identifier in the source of ``obj`` (or of its
    class, base classes or owning class)."""
    for o in _sources(obj):
        if hasattr(o, word):
            return True
        try:
            src = inspect.getsource(o if (inspect.isclass(o) or inspect.ismodule(o) or inspect.isfunction(o))
                                    else type(o))
        except (TypeError, OSError):
            continue
        if re.search(rf"\b{re.escape(word)}\b", src):
            return True
    return False


def load_script(path):
    name = f"lecture_map_{path.stem}"
    if name not in sys.modules:          # registered, so inspect.getmodule finds the script's functions
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    return sys.modules[name]


def code_tokens(cell):
    """Backticked names, and tutorial paths written plainly, in order."""
    return [a or b for a, b in re.findall(r"`([^`]+)`|(tutorials/[\w.-]+\.py)", cell)]


def check_implementation_cell(cell):
    """Returns a list of problems (empty when every name resolves)."""
    problems, context = [], None
    for tok in code_tokens(cell):
        tok = tok.strip()
        if tok in NOT_CODE or tok.startswith("tinygrad-ngd"):
            if tok.startswith("tinygrad-ngd"):     # the console script: the CLI must accept the command
                words = tok.split()
                if len(words) > 1 and words[1] not in ("compare", "verify", "info"):
                    problems.append(f"unknown command {tok!r}")
            continue
        m = re.fullmatch(r"tutorials/(\w+)\.(\w+)", tok)
        if m and m.group(2) != "py":          # a tutorial's function: tutorials/NN_name.function
            path = ROOT / "tutorials" / f"{m.group(1)}.py"
            if not path.exists() or not hasattr(load_script(path), m.group(2)):
                problems.append(f"{tok!r}: no such tutorial function")
            else:
                context = getattr(load_script(path), m.group(2))
            continue
        m = re.fullmatch(r"(tinygrad_ngd/[\w/]+)\.py:(\w+)", tok)
        if m:                                 # file:function, e.g. an optimizer's update rule
            path = ROOT / f"{m.group(1)}.py"
            module = importlib.import_module(m.group(1).replace("/", ".")) if path.exists() else None
            fn = getattr(module, m.group(2), None) if module is not None else None
            if not inspect.isfunction(fn) or fn.__module__ != module.__name__:
                problems.append(f"{tok!r}: no such function in that file")
            elif len(inspect.getsource(fn).splitlines()) > 60:
                problems.append(f"{tok!r}: longer than one screen")
            else:
                context = fn
            continue
        if re.match(r"(tutorials|docs|tools|tests)/", tok):
            path = ROOT / tok.split()[0]
            if not path.exists():
                problems.append(f"missing file {tok}")
            elif path.suffix == ".py" and path.parts[-2] == "tutorials":
                context = load_script(path)          # names after it are the tutorial's functions
            continue
        word = tok.split("(")[0].split("=")[0].strip()
        if re.fullmatch(r"[a-z_][a-z0-9_]*", word) and context is not None:
            # a bare word after a name: a sibling in the same module, a name of its own, or an
            # argument / attribute / method of the name before it
            home = context if inspect.ismodule(context) else inspect.getmodule(context)
            sibling = getattr(home, word, None) if home is not None else None
            if sibling is not None:
                context = sibling
            elif "=" not in tok.split("(")[0] and resolve_dotted(tok) is not None:
                context = resolve_dotted(tok)
            elif not mentioned_by(context, word):
                problems.append(f"{tok!r} is neither a name nor an argument/attribute of the name before it")
            continue
        obj = resolve_dotted(tok)
        if obj is None and context is not None and "." not in word:
            home = context if inspect.ismodule(context) else inspect.getmodule(context)
            obj = getattr(home, word, None)
            if obj is None and mentioned_by(context, word):
                continue
        if obj is None:
            problems.append(f"{tok!r} does not import")
            continue
        context = obj
    return problems


def test_the_map_exists_and_has_every_note():
    text = MAP.read_text()
    for source in NOTE_ITEMS:
        assert f"\n## {source}\n" in text
    assert len(ROWS) > 150


@pytest.mark.parametrize("lineno, cells", ROWS, ids=[f"line{n}" for n, _ in ROWS])
def test_every_named_implementation_exists(lineno, cells):
    impl = cells[2]
    if impl.lower().startswith(("not implemented", "not run", "not reproduced", "not applicable", "no algorithm")):
        assert len(impl) > 40, f"line {lineno}: say why it is not implemented"
        if not code_tokens(impl):
            return
    problems = check_implementation_cell(impl)
    assert not problems, f"docs/lecture_map.md line {lineno}: {problems}"


def _test_refs(cell):
    """(file, test) pairs and plain paths named in a test cell; ``::name`` continues the last file."""
    pairs, paths, last = [], [], None
    for m in re.finditer(r"(tests/[\w/]+\.py)?::(\w+)|((?:tests|docs|tutorials)/[\w./-]+)", cell.replace("`", "")):
        if m.group(2):
            f = m.group(1) or last
            pairs.append((f, m.group(2)))
            last = f
        else:
            paths.append(m.group(3).rstrip("."))
    return pairs, paths


@pytest.mark.parametrize("lineno, cells", ROWS, ids=[f"line{n}" for n, _ in ROWS])
def test_every_named_test_exists(lineno, cells):
    cell = cells[3]
    pairs, paths = _test_refs(cell)
    if not pairs and not paths:
        assert cell in NOT_CODE or "tutorial" in cell.lower(), f"line {lineno}: no test named in {cell!r}"
        assert cells[2].lower().startswith(("not ", "no algorithm")) or "tutorial" in cell.lower(), \
            f"line {lineno}: an implemented item needs a test"
        return
    for f, name in pairs:
        assert f is not None, f"line {lineno}: '::{name}' without a file"
        src = (ROOT / f)
        assert src.exists(), f"line {lineno}: {f} does not exist"
        assert re.search(rf"^def {name}\(", src.read_text(), re.MULTILINE), f"line {lineno}: {f}::{name} not found"
    for p in paths:
        assert (ROOT / p).exists(), f"line {lineno}: {p} does not exist"


# Every item of each source text (docs/references.md), as words that must appear in the map.
NOTE_ITEMS = {
    "Kolasiński 2018": ["normalizing property", "L∞", "RMS", "standard-deviation", "additive", "multiplicative",
            "Algorithm 1", "momentum", "Barzilai", "stochastic"],
    "Yu et al. 2017": ["Algorithm 1", "SGDMNG", "AdaGradNG", "AdamNG", "NG_adap", "CLIP", "Algorithm 2", "Theorem 1",
            "sigmoid", "ResNet", "LSTM", "Kim", "batch-norm"],
    "Misra": ["Vanilla SGD", "Momentum", "NAG", "Rprop", "AdaGrad", "RMSProp", "AdaDelta", "Adam", "AdaMax",
            "Units", "Hessian", "Conjugate", "Hessian-free", "Batch Normalization", "Natural Gradient",
            "PRONG", "Algorithm 1", "Reparametrization"],
    "Soto": ["SGD", "History", "Momentum", "NAG", "AdaGrad", "RMSProp", "Adam", "Newton-Raphson", "n-D",
            "Anneal", "canyon"],
    "Ravasi": ["Ill-conditioning", "½α²gᵀHg", "Local minima", "Saddle", "Cliffs", "clipping", "Wᴺ", "linear decay",
            "exponential", "plateau", "warm-up", "Nesterov", "delta-bar-delta", "AdaGrad", "RMSProp", "Adam",
            "δ = 1e-6", "Polyak", "running", "pre-training"],
}


def test_every_item_of_the_notes_is_mapped():
    text = MAP.read_text()
    sections = re.split(r"^## ", text, flags=re.MULTILINE)[1:]
    by_note = {s.split("\n", 1)[0]: s for s in sections}
    missing = [(n, w) for n, words in NOTE_ITEMS.items() for w in words if w.lower() not in by_note[n].lower()]
    assert not missing, f"items of the notes not in docs/lecture_map.md: {missing}"


def test_the_map_is_the_merge_of_its_parts(tmp_path):
    """docs/lecture_map.md is what tools/merge_lecture_map.py makes of the parts (nothing edited by hand)."""
    spec = importlib.util.spec_from_file_location("merge_lecture_map", ROOT / "tools" / "merge_lecture_map.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.merge() == MAP.read_text(), "run: python tools/merge_lecture_map.py"


def test_the_resolver_can_fail():
    assert check_implementation_cell("`tinygrad_ngd.optimizers.NoSuchOptimizer`")
    assert check_implementation_cell("`optimizers.norms.no_such_norm`")
    assert check_implementation_cell("`Adam` (`no_such_argument_anywhere`)")
    assert check_implementation_cell("`tutorials/99_missing.py`")
    assert check_implementation_cell("`tinygrad_ngd/optimizers/adam.py:no_such_rule`")
    assert check_implementation_cell("`tinygrad_ngd/optimizers/adam.py:Optimizer`")     # imported, not defined there
    assert check_implementation_cell("`tinygrad_ngd/optimizers/adam.py:adam_update` (`no_such_branch_word`)")
    assert not check_implementation_cell("`tinygrad_ngd/optimizers/adam.py:adam_update` (`amsgrad` branch)")
    assert check_implementation_cell("`tutorials/01_autodiff.no_such_function`")
    assert not check_implementation_cell("`tutorials/01_autodiff.hvp_by_hand`")
    assert not check_implementation_cell("`tinygrad_ngd.optimizers.Adam` (`lr`), `NGD(norm=\"linf\")`, `Newton.step`")
    assert _test_refs("tests/test_a.py::test_x, ::test_y")[0] == [("tests/test_a.py", "test_x"),
                                                                  ("tests/test_a.py", "test_y")]
