"""Response templates, pure: parsing, checking and expanding (property-based where it fits)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.core.templates import (
    VARIABLES,
    MissingVariableError,
    Template,
    TemplateCatalog,
    TemplateSyntaxError,
    UnknownTemplateError,
    expand,
    name_of,
)

PLACEHOLDER = re.compile(r"\{\{|\{!")

literal = st.text(st.characters(blacklist_characters="{}", blacklist_categories=("Cs",)),
                  max_size=30)
variable = st.sampled_from(sorted(VARIABLES))
value = st.text(st.characters(blacklist_characters="{}", blacklist_categories=("Cs",)),
                min_size=1, max_size=20).filter(str.strip)


@st.composite
def template_text(draw: st.DrawFn) -> str:
    parts: list[str] = []
    for _ in range(draw(st.integers(0, 6))):
        parts.append(draw(literal))
        name = draw(variable)
        spacing = draw(st.sampled_from(["", " "]))
        if draw(st.booleans()):
            parts.append("{{" + spacing + name + " | " + draw(literal) + spacing + "}}")
        else:
            parts.append("{{" + spacing + name + spacing + "}}")
    parts.append(draw(literal))
    text = "".join(parts)
    return text if text.strip() else text + "x"


@given(template_text(), st.dictionaries(variable, value))
def test_expansion_never_leaves_a_placeholder(text: str, values: dict[str, str]) -> None:
    template = Template.make("t", text)
    try:
        out = expand(template, values)
    except MissingVariableError as exc:  # all or nothing: it says what is missing
        needed = {s for s in exc.variables}
        assert needed and not needed & {k for k, v in values.items() if v.strip()}
        return
    assert not PLACEHOLDER.search(out)
    for name in template.variables:  # every value it had is in the text, as it is
        if name in values and f"{{{{{name}}}}}" in text.replace(" ", ""):
            assert values[name].strip() in out


@given(template_text(), st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,11}", fullmatch=True).filter(
    lambda s: s.lower() not in VARIABLES))
def test_an_unknown_variable_is_an_error_and_nothing_is_expanded(text: str,
                                                                  unknown: str) -> None:
    bad = text + " {{" + unknown + "}}"
    with pytest.raises(TemplateSyntaxError, match="unknown variable"):
        Template.make("t", bad)


@given(st.text(max_size=40))
def test_any_text_either_parses_or_is_refused_with_a_template_error(text: str) -> None:
    try:
        template = Template.make("t", text)
    except TemplateSyntaxError:
        return
    out = expand(template, dict.fromkeys(VARIABLES, "v"))
    assert not PLACEHOLDER.search(out)


def test_values_are_inserted_as_they_are_and_never_expanded_again() -> None:
    template = Template.make("hello", "Hi {{customer_name}}, I am {{ agent_name }}.")
    out = expand(template, {"customer_name": "{{agent_name}}", "agent_name": "Dana"})
    assert out == "Hi {{agent_name}}, I am Dana."


def test_fallbacks_and_missing_variables() -> None:
    template = Template.make("hi", "Hi {{customer_first_name | there}}, case {{case_number}}.")
    assert expand(template, {"case_number": "00001001"}) == "Hi there, case 00001001."
    with pytest.raises(MissingVariableError) as caught:
        expand(template, {"customer_first_name": "Ann", "case_number": " "})
    assert caught.value.variables == ["case_number"]
    assert "{{case_number}}" in str(caught.value) and "nothing was sent" in str(caught.value)


def test_salesforce_merge_fields_read_as_variables() -> None:
    template = Template.make("qt", "Dear {!Contact.FirstName}, re {!case.casenumber}. "
                                   "{!User.Name}")
    assert template.variables == ("customer_first_name", "case_number", "agent_name")
    assert expand(template, {"customer_first_name": "Ann", "case_number": "7",
                             "agent_name": "Dana Agent"}) == "Dear Ann, re 7. Dana Agent"
    with pytest.raises(TemplateSyntaxError, match="unknown merge field"):
        Template.make("qt", "Hi {!Account.Name}")


@pytest.mark.parametrize("text", ["Hi {{customer_name", "Hi {{}}", "Hi {{ 1x }}",
                                  "Hi {!Contact}", "{{a|b{c}}"])
def test_malformed_placeholders_are_refused(text: str) -> None:
    with pytest.raises(TemplateSyntaxError):
        Template.make("t", text)


def test_a_catalog_from_a_file_reports_every_problem_at_once() -> None:
    catalog = TemplateCatalog.from_mapping({"templates": {
        "pricing": {"text": "Plans start at $10, {{customer_first_name|friend}}."},
        "hello": {"text": "Hello!", "description": "a greeting"}}})
    assert sorted(catalog.templates) == ["hello", "pricing"]
    assert catalog.get("PRICING").name == "pricing"
    with pytest.raises(UnknownTemplateError, match="Templates: hello, pricing"):
        catalog.get("pricng")
    with pytest.raises(TemplateSyntaxError) as caught:
        TemplateCatalog.from_mapping({"templates": {
            "Bad Name": {"text": "x"}, "empty": {"text": " "}, "typo": {"text": "{{nme}}"},
            "notext": {"body": "x"}, "extra": {"text": "x", "colour": "red"}}})
    lines = str(caught.value).splitlines()
    assert len(lines) == 5 and all(line.startswith("[templates.") for line in lines)


def test_quick_text_titles_become_command_names() -> None:
    assert name_of("Refund Policy") == "refund-policy"
    assert name_of("  Pricing (2026)!") == "pricing-2026"


def test_merging_catalogs_keeps_the_first_ones_template() -> None:
    mine = TemplateCatalog.of([Template.make("pricing", "file text")])
    theirs = TemplateCatalog.of([Template.make("pricing", "qt text", "quick_text", "574A"),
                                 Template.make("refund", "qt refund", "quick_text", "574B")])
    merged = mine.merged(theirs)
    assert merged.get("pricing").source == "file" and merged.get("refund").id == "574B"


def test_a_templates_file_with_a_mistake_stops_telecase_with_one_line_each(
        tmp_path: Path) -> None:
    from telecase.bootstrap.agent_tools import TemplatesFileError, load_templates_file
    assert len(load_templates_file("examples/templates.toml")) == 4
    with pytest.raises(TemplatesFileError, match="No such file"):
        load_templates_file(str(tmp_path / "missing.toml"))
    bad = tmp_path / "bad.toml"
    bad.write_text('[templates.a]\ntext = "{{nme}}"\n[templates.b]\ntext = "{{case_number"\n')
    with pytest.raises(TemplatesFileError) as caught:
        load_templates_file(str(bad))
    assert str(caught.value).splitlines()[1:] == [
        "[templates.a]: unknown variable {{nme}}; telecase knows " + ", ".join(VARIABLES),
        "[templates.b]: malformed placeholder at '{{case_number' (write {{variable}} or "
        "{{variable | fallback}})"]
