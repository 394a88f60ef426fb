"""Print the protocol's JSON Schema, or the message tables of docs/protocol.md.

`python -m signaling.schema > docs/protocol.json` and
`python -m signaling.schema --markdown` (the tables between the
`<!-- messages -->` markers of docs/protocol.md). Generated from the pydantic
models so the docs cannot drift from the wire format; a unit test compares.
"""

from __future__ import annotations

import json
import sys
import types
import typing
from typing import Any, get_args

from pydantic import BaseModel

from signaling.protocol import (
    CLOSE_CODES,
    ClientMessage,
    CloseReason,
    ErrorCode,
    ServerMessage,
    json_schema,
)

BEGIN, END = "<!-- messages:begin -->", "<!-- messages:end -->"


def _models(union: Any) -> list[type[BaseModel]]:
    inner = get_args(union)[0]  # Annotated[Union[...], Field] -> Union[...]
    return list(get_args(inner))


def _type_name(annotation: Any) -> str:
    """A short, table-safe spelling of a field type (`a \\| b`, `"x" \\| "y"`)."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is type(None):
        return "null"
    if origin is typing.Literal:
        return " \\| ".join(f'"{a}"' for a in args)
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join(_type_name(a) for a in args)
    if origin is list:
        return f"list[{_type_name(args[0])}]"
    if origin is dict:
        return "object"
    if isinstance(annotation, type):
        return {"str": "string", "int": "integer", "bool": "boolean"}.get(
            annotation.__name__, annotation.__name__
        )
    return "any"


def _fields(model: type[BaseModel]) -> str:
    parts = []
    hints = typing.get_type_hints(model, include_extras=False)
    for name, info in model.model_fields.items():
        if name in ("type", "v", "id"):
            continue
        optional = "" if info.is_required() else "?"
        parts.append(f"`{name}{optional}`: {_type_name(hints.get(name, info.annotation))}")
    return "<br>".join(parts) or "—"


def _doc(model: type[BaseModel]) -> str:
    doc = (model.__doc__ or "").strip().split("\n\n")[0]
    return " ".join(doc.split())


def markdown() -> str:
    lines = [BEGIN, "", "### Client → server", "", "| type | fields | meaning |", "|---|---|---|"]
    for model in _models(ClientMessage):
        kind = model.model_fields["type"].default
        lines.append(f"| `{kind}` | {_fields(model)} | {_doc(model)} |")
    lines += ["", "### Server → client", "", "| type | fields | meaning |", "|---|---|---|"]
    for model in _models(ServerMessage):
        kind = model.model_fields["type"].default
        lines.append(f"| `{kind}` | {_fields(model)} | {_doc(model)} |")
    lines += ["", "### Error codes", "", "| code |", "|---|"]
    lines += [f"| `{c.value}` |" for c in ErrorCode]
    lines += ["", "### Close reasons", "", "| reason | WebSocket code |", "|---|---|"]
    lines += [f"| `{r.value}` | {CLOSE_CODES[r]} |" for r in CloseReason]
    lines += ["", END]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if "--markdown" in argv:
        print(markdown())
    else:
        print(json.dumps(json_schema(), indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
