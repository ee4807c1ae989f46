"""Writes the README's configuration reference from the three settings models (`--check` tests it).

    python deploy/dev/config_reference.py          # rewrite the section in README.md
    python deploy/dev/config_reference.py --check  # exit 1 if README.md is out of date

Every setting is listed with its `SINFONIA_TIER<N>_*` variable, its default
and the description written in the model, so the README cannot drift from
the code: `tests/test_readme.py` runs the check.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import enum
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args, get_origin

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from common.service.settings import ServiceSettings
from tier1.settings import Tier1Settings
from tier2.settings import Tier2Settings
from tier3.settings import Tier3Settings

README = Path(__file__).resolve().parents[2] / "README.md"
BEGIN = "<!-- BEGIN CONFIGURATION REFERENCE (deploy/dev/config_reference.py) -->"
END = "<!-- END CONFIGURATION REFERENCE -->"
TIERS: list[tuple[str, str, type[ServiceSettings]]] = [
    ("ST-1 (`sinfonia-tier1`)", "SINFONIA_TIER1_", Tier1Settings),
    ("ST-2 (`sinfonia-tier2`)", "SINFONIA_TIER2_", Tier2Settings),
    ("ST-3 (`sinfonia-tier3`)", "SINFONIA_TIER3_", Tier3Settings),
]


def _model_of(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """The settings section a field holds (and whether it is a list of them), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is list and args:
        inner, _ = _model_of(args[0])
        return inner, inner is not None
    for arg in args:
        inner, many = _model_of(arg)
        if inner is not None:
            return inner, many
    return None, False


@contextlib.contextmanager
def _neutral_environment() -> Iterator[None]:
    """Defaults computed from the environment, shown as a user would read them."""
    saved = dict(os.environ)
    try:
        for name in list(os.environ):
            if name.startswith(("XDG_", "SINFONIA_")):
                del os.environ[name]
        os.environ["HOME"] = HOME_MARK
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


HOME_MARK = "/home-of-the-user"


def _default(field: FieldInfo) -> str:
    if field.default_factory is socket.gethostname:
        return "this host's name"
    if field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
    elif field.default is PydanticUndefined:
        return "*required*"
    else:
        value = field.default
    if value is None:
        return "—"
    if isinstance(value, SecretStr):
        return "(secret)"
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, list):
        if not value:
            return "`[]`"
        value = ", ".join(str(item) for item in value)
    if isinstance(value, bool):
        value = str(value).lower()
    text = str(value).replace(HOME_MARK, "~").replace("|", "\\|")
    return f"`{text}`"


def _describe(field: FieldInfo) -> str:
    text = " ".join((field.description or "").split())
    return text.replace("|", "\\|")


def _rows(model: type[BaseModel], prefix: str, path: str) -> Iterator[str]:
    for name, field in model.model_fields.items():
        dotted = f"{path}{name}"
        section, many = _model_of(field.annotation)
        env = f"{prefix}{dotted.upper().replace('.', '__')}"
        if section is not None and not many and field.default_factory is None:
            yield from _rows(section, prefix, f"{dotted}.")
            continue
        if section is not None and many:
            yield f"| `{dotted}` | `{env}` (JSON) | {_default(field)} | {_describe(field)} |"
            yield from _rows(section, "", f"{dotted}[].")
            continue
        variable = f"`{env}`" if prefix else ""
        yield f"| `{dotted}` | {variable} | {_default(field)} | {_describe(field)} |"


def render() -> str:
    """The reference section, between its markers."""
    lines = [
        BEGIN,
        "",
        "Generated from the settings models; `make docs` rewrites it and a test keeps it in"
        " step. A setting comes from a flag, then its environment variable, then the YAML"
        " file given with `--config`, then the default shown. In the file, dots are nesting;"
        " in a variable they are `__`. Lists given as variables are JSON.",
    ]
    with _neutral_environment():
        for title, prefix, model in TIERS:
            lines += [
                "",
                f"### {title}",
                "",
                "| setting | environment variable | default | meaning |",
                "|---|---|---|---|",
                *_rows(model, prefix, ""),
            ]
    lines += ["", END]
    return "\n".join(lines)


def updated(readme: str) -> str:
    start, end = readme.index(BEGIN), readme.index(END) + len(END)
    return readme[:start] + render() + readme[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write or check the configuration reference.")
    parser.add_argument("--check", action="store_true", help="Exit 1 if README.md is stale.")
    args = parser.parse_args(argv)
    current = README.read_text()
    if BEGIN not in current or END not in current:
        print(f"{README} has no configuration reference markers", file=sys.stderr)
        return 1
    fresh = updated(current)
    if args.check:
        if fresh == current:
            return 0
        diff = difflib.unified_diff(
            current.splitlines(), fresh.splitlines(), "README.md", "generated", lineterm=""
        )
        print("\n".join(diff), file=sys.stderr)
        print("README.md is out of date: run `make docs`", file=sys.stderr)
        return 1
    README.write_text(fresh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
