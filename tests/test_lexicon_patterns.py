"""The pattern tables of the question understanding (lexicon.Patterns): compiled once, read by name."""

from __future__ import annotations

import re

import pytest

from facelens.agent.assistant import nlu_patterns, planner, referring
from facelens.agent.assistant.lexicon import Patterns
from facelens.agent.sessions import intent


def test_patterns_compiles_each_source_with_the_flags():
    table = Patterns({"yes": r"\byes\b", "no": r"\bno\b"}, re.I)
    assert table.yes.pattern == r"\byes\b" and table.yes.flags & re.I
    assert table.no.search("NO way") and not table.no.search("know")
    assert set(vars(table)) == {"yes", "no"}


def test_a_name_not_in_the_table_is_an_attribute_error():
    with pytest.raises(AttributeError):
        Patterns({"yes": r"yes"}).maybe  # noqa: B018 - the lookup is what is tested


def test_a_broken_source_fails_at_build_time():
    with pytest.raises(re.error):
        Patterns({"bad": r"(unclosed"})


@pytest.mark.parametrize("module", [nlu_patterns, referring, planner, intent])
def test_every_module_table_holds_compiled_patterns(module):
    table = vars(module.RE)
    assert table and all(isinstance(rx, re.Pattern) for rx in table.values())


def test_the_tables_match_what_they_name():
    assert nlu_patterns.RE.wh.search("who is happiest")
    assert referring.RE.left.search("the person on the far left")
    assert planner.RE.follow.match("and what about her")
    assert intent.RE.numbered.search("summarise call 2")
