"""JSON and YAML text from users turned into plain values, within bounds (docs/limits.md).

YAML anchors and aliases are refused: a few hundred bytes of aliases expand to gigabytes
as soon as anything walks the value. Nesting deeper than MAX_DOCUMENT_DEPTH is refused,
and so are numbers that are not finite (JSON's NaN and Infinity, 1e999, YAML's .inf):
no field of wfobj holds one. Messages name the place, never quote more than an excerpt.
"""

from __future__ import annotations

import json
import math
from typing import Any

import yaml

from wfobj.engine.bounds import MAX_DOCUMENT_DEPTH
from wfobj.engine.errors import DocumentError, clip

TOO_DEEP = f"nested deeper than {MAX_DOCUMENT_DEPTH} levels"


def load_json(data: str | bytes) -> Any:
    """The value of a JSON text; DocumentError if malformed or outside the limits."""
    try:
        value = json.loads(data, parse_constant=_refuse_constant)
    except DocumentError:
        raise
    except RecursionError:
        raise DocumentError("JSON", TOO_DEEP) from None
    except ValueError as exc:
        raise DocumentError("JSON", clip(str(exc), 200)) from None
    check_tree(value, "JSON")
    return value


def _refuse_constant(name: str) -> Any:
    raise DocumentError("JSON", f"{name} is not a number wfobj accepts (finite numbers only)")


class _BoundedLoader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses anchors and aliases and bounds the nesting."""

    depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            mark = "*" if isinstance(event, yaml.AliasEvent) else "&"
            self._refuse(f"anchors and aliases are not accepted (found {mark}"
                         f"{clip(anchor, 40)})", event)
        self.depth += 1
        if self.depth > MAX_DOCUMENT_DEPTH:
            self._refuse(TOO_DEEP, event)
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    @staticmethod
    def _refuse(problem: str, event: yaml.Event) -> None:
        raise yaml.composer.ComposerError(None, None, problem, event.start_mark)


def load_yaml(data: str | bytes) -> Any:
    """The value of a YAML text (one document); DocumentError if malformed or outside
    the limits."""
    try:
        value = yaml.load(data, Loader=_BoundedLoader)  # noqa: S506 - a SafeLoader
    except yaml.MarkedYAMLError as exc:
        raise DocumentError("YAML", _marked(exc)) from None
    except yaml.reader.ReaderError as exc:  # not UTF-8/16, or a control character
        raise DocumentError("YAML", f"not text at position {exc.position}: "
                            f"{clip(str(exc.reason), 80)}") from None
    except RecursionError:
        raise DocumentError("YAML", TOO_DEEP) from None
    except (yaml.YAMLError, ValueError) as exc:
        raise DocumentError("YAML", clip(" ".join(str(exc).split()), 200)) from None
    check_tree(value, "YAML")
    return value


def _marked(exc: yaml.MarkedYAMLError) -> str:
    """'problem (line L, column C)' without the snippet of input PyYAML would quote."""
    problem = " ".join(str(exc.problem or exc.context or "malformed").split())
    mark = exc.problem_mark or exc.context_mark
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
    return clip(problem, 200) + where


def check_tree(value: Any, kind: str) -> None:
    """Refuse nesting deeper than MAX_DOCUMENT_DEPTH and numbers that are not finite."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            raise DocumentError(kind, f"{item} is not a number wfobj accepts (finite "
                                "numbers only)")
        if isinstance(item, dict | list):
            if depth > MAX_DOCUMENT_DEPTH:
                raise DocumentError(kind, TOO_DEEP)
            if isinstance(item, dict):
                stack.extend((key, depth + 1) for key in item)
                stack.extend((child, depth + 1) for child in item.values())
            else:
                stack.extend((child, depth + 1) for child in item)
