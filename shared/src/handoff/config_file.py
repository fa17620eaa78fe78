"""Load a YAML config file into a pydantic model; errors name the file, line and key."""

from __future__ import annotations

import difflib
import types
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class ConfigError(Exception):
    """A configuration mistake, worded as `file:line: key: message`."""

    def __init__(self, path: Path, line: int | None, key: str, message: str) -> None:
        self.path, self.line, self.key, self.message = path, line, key, message
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {key}: {message}" if key else f"{where}: {message}")


def _line_of(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """Follow a pydantic error location through the YAML node tree to the nearest line."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if k.value == part), None)
            key_node = next((k for k, _ in node.value if k.value == part), None)
            if match is None:
                break
            line = (key_node or match).start_mark.line + 1
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                break
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _dotted(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _candidates(annotation: Any) -> list[Any]:
    """The types a value of `annotation` may take: Annotated, Optional and unions unwrapped."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _candidates(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        return [t for arg in get_args(annotation) for t in _candidates(arg)]
    return [annotation]


def _keys_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """The keys the file may use at `loc`, following the model's fields, lists and dicts."""
    kinds: list[Any] = [model]
    for part in loc:
        following: list[Any] = []
        for kind in kinds:
            origin = get_origin(kind)
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                if kind.__name__ == part:  # a union member's tag in the error location
                    following.append(kind)
                    continue
                field = next(
                    (f for n, f in kind.model_fields.items() if part in (n, f.alias)), None
                )
                if field is not None:
                    following += _candidates(field.annotation)
            elif origin in (list, tuple, set, frozenset, Sequence) and isinstance(part, int):
                following += _candidates(get_args(kind)[0]) if get_args(kind) else []
            elif origin in (dict, Mapping) and isinstance(part, str) and len(get_args(kind)) == 2:
                following += _candidates(get_args(kind)[1])
        kinds = following
    return [
        f.alias or n
        for kind in kinds
        if isinstance(kind, type) and issubclass(kind, BaseModel)
        for n, f in kind.model_fields.items()
    ]


def _unknown_key(model: type[BaseModel], loc: tuple[int | str, ...]) -> str:
    """An unknown key's message, with the key it most likely meant (or the keys allowed)."""
    known = list(dict.fromkeys(_keys_at(model, loc[:-1])))
    close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
    if close:
        return f"unknown key; did you mean {close[0]!r}?"
    if known:
        return f"unknown key; expected one of {', '.join(known)}"
    return "unknown key"


def load_yaml(path: Path, model: type[M], context: dict[str, Any] | None = None) -> M:
    """Parse and validate; raise ConfigError naming the first fault's line and key.

    An unknown key is reported before anything else: a misspelt key (`threshhold:`) also
    leaves the key it meant missing, and the typo is the fault to name.
    """
    try:
        source = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(path, None, "", f"cannot read: {exc.strerror}") from None
    try:
        node = yaml.compose(source, Loader=yaml.SafeLoader)
        raw = yaml.safe_load(source)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise ConfigError(path, line, "", f"not valid YAML: {exc.problem}") from None
    try:
        return model.model_validate(raw if raw is not None else {}, context=context)
    except ValidationError as exc:
        errors = exc.errors()
        err = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        message = _unknown_key(model, loc) if err["type"] == "extra_forbidden" else err["msg"]
        raise ConfigError(path, _line_of(node, loc), _dotted(loc), message) from None
