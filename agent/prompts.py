"""Prompt templates: YAML files in ``facelens.prompts``, rendered with strict Jinja2.

All prompt and canned answer text lives in ``prompts/*.yaml`` (never in Python code). A template
that refers to a variable the caller did not pass raises an error instead of rendering a blank.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Any

from facelens.tools.errors import ConfigError, NotFoundError


@lru_cache(maxsize=None)
def load(name: str, /) -> dict[str, Any]:
    """The parsed YAML file ``prompts/<name>.yaml`` (cached).

    Args:
        name: file name without ``.yaml``, e.g. ``"assistant"``.

    Raises:
        NotFoundError: there is no such prompt file.
        ConfigError: the file is not a YAML mapping.
    """
    import yaml

    path = _folder().joinpath(f"{name}.yaml")
    if not path.is_file():
        raise NotFoundError(f"There is no prompt file '{name}.yaml' in facelens.prompts.")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ConfigError(f"The prompt file '{name}.yaml' must hold a mapping of template names to text.")
    return data


def _folder():
    """The facelens.prompts package folder, as an importlib.resources Traversable."""
    try:
        return resources.files("facelens.prompts")
    except (NotADirectoryError, TypeError):
        # Python 3.11's namespace reader rejects setuptools' editable-install path hook entry;
        # the real folder is the package path entry that exists on disk
        import facelens.prompts
        from pathlib import Path

        return next(Path(p) for p in facelens.prompts.__path__ if Path(p).is_dir())


@lru_cache(maxsize=None)
def _environment():
    import jinja2

    return jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False, autoescape=False)


def text(name: str, key: str, /) -> str:
    """The raw text of one entry (no rendering)."""
    data = load(name)
    if key not in data:
        raise NotFoundError(f"The prompt file '{name}.yaml' has no entry '{key}'; it has: {', '.join(sorted(data))}.")
    return str(data[key])


def render(name: str, key: str, /, **variables: Any) -> str:
    """Render entry ``key`` of ``prompts/<name>.yaml`` with ``variables``.

    Raises:
        ConfigError: the template uses a variable that was not passed, or does not parse.
    """
    import jinja2

    try:
        return _environment().from_string(text(name, key)).render(**variables).strip()
    except jinja2.UndefinedError as exc:
        raise ConfigError(f"Prompt '{name}.{key}' needs a value that was not given: {exc.message}.") from exc
    except jinja2.TemplateSyntaxError as exc:
        raise ConfigError(f"Prompt '{name}.{key}' does not parse: {exc}.") from exc


# --- untrusted text as data -----------------------------------------------------------------------

#: characters escaped inside JSON strings on top of json.dumps: angle brackets (so no text can close
#: a <data> block) and the line/paragraph separators
_EXTRA_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def data_json(value: Any) -> str:
    """JSON of ``value`` for an LLM: untrusted text (names, transcripts, other models' replies)
    JSON-quoted, with angle brackets, invisible format characters (bidi overrides, zero-width) and
    line separators escaped, so nothing inside can pass for prompt structure. Still valid JSON."""
    import json
    import unicodedata

    text = json.dumps(value, ensure_ascii=False, default=str)
    return "".join(
        _EXTRA_ESCAPES.get(c) or (json.dumps(c)[1:-1] if unicodedata.category(c) == "Cf" else c) for c in text
    )


def data_block(source: str, value: Any) -> str:
    """A delimited data block for a prompt: ``<data source="...">JSON</data>``. The system prompts
    say once that such blocks (and tool results) are data, never instructions."""
    return f'<data source="{source}">\n{data_json(value)}\n</data>'
