"""The text an LLM or a VLM reads from facelens' templates, and the one loader for it.

The files here are YAML mappings of template names to Jinja2 text: ``assistant`` (system prompts),
``tools`` (what the LLM reads about each tool), ``sessions`` (the session analyst's LLM prompts),
``voice`` (the words' emotion), ``vlm``, ``exemplars``, ``nlu_exemplars``, plus the evaluation question
sets in ``eval/``. :func:`render` fills a template strictly: a variable the caller did not pass is an
error, never a blank. What the user reads is code (the rule in ARCHITECTURE.md): the offline planner's
sentences in ``facelens.agent.assistant.wording`` and beside the figures they are built around
(``compose*``), the session analyst's in ``facelens.agent.sessions.wording``, the voice chat's openers in
``facelens.agent.assistant.voice_input``; so are the argument descriptions of the tools' schemas,
beside their types in ``facelens.agent.assistant.toolbox``.

    >>> from facelens import prompts
    >>> prompts.render("voice", "words_emotion_user", text="I am so happy")
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from facelens.tools.errors import ConfigError, NotFoundError

#: the folder of this package: a real directory both in a wheel and in an editable checkout
FOLDER = Path(__file__).resolve().parent


def read_text(relative: str, /) -> str:
    """The text of ``prompts/<relative>`` (e.g. ``"eval/questions_tune.yaml"``).

    Raises:
        NotFoundError: no such file in the installation.
    """
    path = (FOLDER / relative).resolve()
    if FOLDER not in path.parents or not path.is_file():
        raise NotFoundError(
            f"The prompt file prompts/{relative} is missing from the installation.", hint="Reinstall facelens."
        )
    return path.read_text(encoding="utf-8")


@cache
def load(name: str, /) -> dict[str, Any]:
    """The parsed YAML file ``prompts/<name>.yaml`` (cached; ``name`` may include ``.yaml`` or a
    sub-folder such as ``eval/questions_tune``).

    Raises:
        NotFoundError: there is no such prompt file.
        ConfigError: the file is not a YAML mapping.
    """
    import yaml

    name = name.removesuffix(".yaml")
    if not (FOLDER / f"{name}.yaml").is_file():
        raise NotFoundError(f"There is no prompt file '{name}.yaml' in facelens.prompts.")
    data = yaml.safe_load(read_text(f"{name}.yaml"))
    if not isinstance(data, dict):
        raise ConfigError(f"The prompt file '{name}.yaml' must hold a mapping of template names to text.")
    return data


@cache
def _environment():
    import jinja2

    return jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False, autoescape=False)


def text(name: str, key: str, /) -> str:
    """The raw text of one entry (no rendering).

    Raises:
        NotFoundError: the file or the entry does not exist.
    """
    data = load(name)
    if key not in data:
        raise NotFoundError(
            f"The prompt file '{name.removesuffix('.yaml')}.yaml' has no entry '{key}'; it has: {', '.join(sorted(data))}."
        )
    return str(data[key])


def render(name: str, key: str, /, **variables: Any) -> str:
    """Render entry ``key`` of ``prompts/<name>.yaml`` with ``variables``.

    Raises:
        NotFoundError: the file or the entry does not exist.
        ConfigError: the template uses a variable that was not passed, or does not parse.
    """
    import jinja2

    try:
        return _environment().from_string(text(name, key)).render(**variables).strip()
    except jinja2.UndefinedError as exc:
        raise ConfigError(
            f"Prompt '{name}.{key}' needs a value that was not given: {exc.message} (undefined)."
        ) from exc
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
