"""Prompt files: loaded from the package with importlib.resources, rendered with strict Jinja2."""

from __future__ import annotations

import pytest

from facelens import prompts
from facelens.tools.errors import ConfigError, NotFoundError


def test_every_prompt_file_parses():
    for name in ("assistant", "tools", "vlm", "sessions"):
        data = prompts.load(name)
        assert data and all(isinstance(v, str) and v.strip() for v in data.values())


def test_render_fills_variables():
    text = prompts.render("assistant", "speaker", label="frustrated", confidence=0.8, conflicts="", tone="de-escalate")
    assert "frustrated (0.80)" in text and "de-escalate" in text


def test_missing_variable_is_an_error_not_a_blank():
    with pytest.raises(ConfigError, match="needs a value"):
        prompts.render("assistant", "speaker", confidence=0.5, conflicts="", tone="warm")  # no label


def test_unknown_file_and_entry():
    with pytest.raises(NotFoundError):
        prompts.load("no_such_prompts")
    with pytest.raises(NotFoundError, match="has no entry"):
        prompts.text("assistant", "no_such_entry")


def test_system_prompt_forbids_race_and_sets_the_citation_style():
    text = prompts.render("assistant", "system", images_allowed=False)
    assert "race or ethnicity" in text and "Face N (position, clothing colour)" in text
    assert "Images do not leave this machine" in text
    assert "Images do not leave" not in prompts.render("assistant", "system", images_allowed=True)


def test_one_loader_reads_every_prompt_file():
    """Every YAML file under prompts/ goes through facelens.prompts.load (the one loader)."""
    for path in sorted(prompts.FOLDER.rglob("*.yaml")):
        name = path.relative_to(prompts.FOLDER).with_suffix("").as_posix()
        assert isinstance(prompts.load(name), dict), name
    with pytest.raises(NotFoundError):
        prompts.read_text("../pyproject.toml")  # nothing outside the prompts folder


def test_the_llm_reads_tool_descriptions_from_prompts():
    from facelens.agent.assistant.toolbox import READ_ONLY_TOOLS, ToolBox

    tools = {t.name: t.description for t in ToolBox().langchain_tools()}
    assert set(tools) <= set(READ_ONLY_TOOLS)
    for name, text in tools.items():
        assert text == prompts.render("tools", name)
