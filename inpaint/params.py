"""params.yaml checked against a schema, once, before a stage does anything.

Every key must be known, every value of the right type and range. A problem is a ParamsError that
names the key by its full dotted name, the value, and the fix, e.g.
    params.yaml: base.image_size is 0; use a whole number from 32 to 2048, a multiple of 16
Unknown keys are errors (a typo must not be silently ignored).

The schema is built from small checkers: each is a function (value, key) -> None that raises.
"""
from __future__ import annotations

import inspect
import math
import re
from pathlib import Path

import yaml


class ParamsError(ValueError):
    """A params.yaml value that cannot work; the message names the dotted key and the fix."""


def _fail(key: str, value, fix: str):
    raise ParamsError(f"{key} is {value!r}; {fix}")


# --------------------------------------------------------------------------- checkers


def integer(lo=None, hi=None, multiple: int = 1):
    def check(v, key):
        ok = isinstance(v, int) and not isinstance(v, bool) and (lo is None or v >= lo) and (hi is None or v <= hi)
        if not ok or v % multiple:
            span = f"from {lo} to {hi}" if hi is not None else f"of at least {lo}" if lo is not None else ""
            _fail(key, v, f"use a whole number {span}".rstrip() + (f", a multiple of {multiple}" if multiple > 1 else ""))
    return check


def number(lo=None, hi=None, lo_open: bool = False, hi_open: bool = False):
    def check(v, key):
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        ok = ok and (lo is None or (v > lo if lo_open else v >= lo)) and (hi is None or (v < hi if hi_open else v <= hi))
        if not ok:
            left = "" if lo is None else f"{'above' if lo_open else 'at least'} {lo}"
            right = "" if hi is None else f"{'below' if hi_open else 'at most'} {hi}"
            _fail(key, v, "use a number " + " and ".join(x for x in (left, right) if x))
    return check


def boolean(v, key):
    if not isinstance(v, bool):
        _fail(key, v, "use true or false")


def text(v, key):
    if not isinstance(v, str) or not v:
        _fail(key, v, "use a non-empty string")


def name(v, key):
    """A name that becomes part of a file name: letters, digits, _ and - (no path, no dot)."""
    if not isinstance(v, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}", v):
        _fail(key, v, "use a name of letters, digits, _ and - (up to 64 characters; it becomes part of file names)")


def choice(*options):
    def check(v, key):
        if v not in options:
            _fail(key, v, f"use one of {list(options)}")
    return check


def nullable(inner):
    def check(v, key):
        if v is not None:
            inner(v, key)
    return check


def either(*checks, fix: str):
    def check(v, key):
        for c in checks:
            try:
                return c(v, key)
            except ParamsError:
                pass
        _fail(key, v, fix)
    return check


def items(inner, min_len: int = 0, length: int | None = None):
    def check(v, key):
        if not isinstance(v, list) or len(v) < min_len or (length is not None and len(v) != length):
            want = f"{length} values" if length is not None else f"at least {min_len} value(s)" if min_len else "values"
            _fail(key, v, f"use a list of {want}, e.g. [a, b]")
        for i, x in enumerate(v):
            inner(x, f"{key}[{i}]")
    return check


def mapping(value=None, keys=None):
    """A dict with free keys (`keys` checks each name) and values checked by `value`."""
    def check(v, key):
        if not isinstance(v, dict):
            _fail(key, v, "use a mapping {name: value}")
        for k, x in v.items():
            if keys is not None:
                keys(k, f"{key} key")
            if value is not None:
                value(x, f"{key}.{k}")
    return check


def section(fields: dict, partial: bool = False, optional: tuple[str, ...] = ()):
    """A dict with exactly these keys (`partial`: any subset; `optional`: these may be left out), each
    checked by its checker."""
    def check(v, key):
        if not isinstance(v, dict):
            _fail(key, v, f"use a mapping with keys {sorted(fields)}")
        unknown = sorted(set(v) - set(fields))
        if unknown:
            raise ParamsError(f"{key}.{unknown[0]} is not a known key; the keys of {key} are {sorted(fields)} "
                              "(a typo? remove it or fix its name)")
        missing = [] if partial else sorted(set(fields) - set(v) - set(optional))
        if missing:
            raise ParamsError(f"{key}.{missing[0]} is missing; add it (see the project's params.yaml for its default)")
        for k, x in v.items():
            fields[k](x, f"{key}.{k}")
    return check


# --------------------------------------------------------------------------- the sections without registries
# (the masks, train and evaluate sections are checked by inpaint.masks, inpaint.training and
# inpaint.evaluation, next to the registries of names they accept: a stage depends only on what it reads)

ratio = number(0, 1)
positive = number(0, lo_open=True)
weight = number(0)

SECTIONS = ("base", "cuda_visible_devices", "data", "masks", "split", "train", "evaluate")
BASE = section({"seed": integer(0), "image_size": integer(32, 2048, multiple=16)})
CUDA_VISIBLE_DEVICES = nullable(either(integer(0), text, fix='use GPU indices like 1 or "0,1", or null'))
DATA = section({"source": text, "on_error": choice("fail", "skip"), "small": choice("reject", "upscale")})
_GROUPS = either(number(0, 1, lo_open=True, hi_open=True), integer(1),
                 fix="use a ratio below 1 (e.g. 0.1) or a whole number of photo groups (e.g. 2)")
SPLIT = section({"val": _GROUPS, "test": _GROUPS, "pairs_per_cell": integer(1), "min_crop_scale": number(0, 1, lo_open=True)})

# pretrain/params.yaml: `models` names the pretrain@<model> stages; its `train` mirrors params.yaml's (`common`
# for every model, then `<model>`), overrides params.yaml's recipe key by key and is checked by the train
# schema once merged (stages/pretrain.py)
PRETRAIN_SECTIONS = ("models", "data", "train", "heldout")
PRETRAIN = {
    "models": items(name, min_len=1),
    "data": section({"name": text, "folders": items(text, min_len=1), "val_photos": integer(1)}),
    "train": mapping(mapping(), keys=name),
    "heldout": section({"photos": text, "masks": text, "per_photo": integer(1), "methods": items(text, min_len=1),
                        "seed": integer(0), "image_size": integer(32)}, optional=("image_size",)),
}


def kwargs_of(cls, what: str):
    """The keyword arguments a class's constructor takes: an unknown one is named with its dotted key."""
    names = [p for p in inspect.signature(cls).parameters if p != "self"]

    def check(v, key):
        if not isinstance(v, dict):
            _fail(key, v, f"use a mapping of {what} arguments")
        unknown = sorted(set(v) - set(names))
        if unknown:
            raise ParamsError(f"{key}.{unknown[0]} is not an argument of {what}; it takes {names}")
    return check


def check(params: dict, sections: dict, file: str = "params.yaml", known: tuple[str, ...] = SECTIONS) -> dict:
    """Raise ParamsError (prefixed with `file`) for the first problem: a top-level key that is not one
    of `known` (params.yaml's SECTIONS, or pretrain/params.yaml's PRETRAIN_SECTIONS), or a problem in one
    of `sections` ({name: checker}: the ones the stage reads)."""
    try:
        if not isinstance(params, dict):
            raise ParamsError(f"the file is not a mapping of sections ({list(known)})")
        unknown = sorted(set(params) - set(known))
        if unknown:
            raise ParamsError(f"{unknown[0]} is not a known section; the sections are {list(known)} (a typo?)")
        for name, checker in sections.items():
            if name not in params:
                raise ParamsError(f"{name} is missing; add it (see the project's params.yaml)")
            checker(params[name], name)
    except ParamsError as e:
        raise ParamsError(f"{file}: {e}") from None
    return params


class _Loader(yaml.SafeLoader):
    """YAML as params.yaml needs it: a key given twice is an error (not last-wins), and nothing is read
    as a date (2001-13-45 is a string, for the schema to refuse, not a crash in the date parser)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise ParamsError(f"{key} is given twice (line {key_node.start_mark.line + 1}); keep one")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_Loader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
# YAML 1.1 reads 1e-4 (no dot, or no exponent sign) as a string; DVC's YAML 1.2 reads it as a number,
# and so does this loader, so a value means the same to `dvc exp run -S` and to the stage.
_EXPONENT = re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$")
for _ch in "-+0123456789":
    _Loader.yaml_implicit_resolvers[_ch] = [("tag:yaml.org,2002:float", _EXPONENT),
                                            *_Loader.yaml_implicit_resolvers.get(_ch, [])]


def load(path: str | Path, sections: dict, known: tuple[str, ...] = SECTIONS) -> dict:
    """params.yaml (or pretrain/params.yaml) read and checked: `sections` and `known` as for `check`."""
    path = Path(path)
    try:
        if path.exists() and not path.is_file():
            raise ParamsError("not a regular file; give the params.yaml file")
        params = yaml.load(path.read_text(), Loader=_Loader)
    except FileNotFoundError:
        raise ParamsError(f"{path}: not found; run from the project folder or pass --params") from None
    except RecursionError:
        raise ParamsError(f"{path}: nested too deeply to read; params.yaml holds a few levels of sections") from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ParamsError(f"{path}: not valid YAML{where}: {e.problem or e.context}; fix the syntax there") from None
    except UnicodeDecodeError:
        raise ParamsError(f"{path}: not UTF-8 text; save it as UTF-8 YAML") from None
    except ParamsError as e:
        raise ParamsError(f"{path}: {e}") from None
    except (yaml.YAMLError, ValueError, TypeError) as e:
        raise ParamsError(f"{path}: not valid YAML ({str(e).splitlines()[0]}); fix the syntax") from None
    return check(params, sections, str(path), known)
