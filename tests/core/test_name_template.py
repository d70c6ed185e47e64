"""Name templates (issue 13, Naming): parsed and checked once, rendered without str.format."""

from __future__ import annotations

import pytest

from fibuca_desktop.core.errors import UsageError
from fibuca_desktop.core.imaging.name_template import (
    FIELDS,
    NameContext,
    NameTemplate,
    optional_template,
)

CAR = NameContext(
    stem="car-1", ext="jpg", preset="web", profile="amazon", width=800, height=534, n=7
)


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("{stem}", "car-1"),
        ("{stem}-{profile}", "car-1-amazon"),
        ("{stem}-{preset}-{width}x{height}", "car-1-web-800x534"),
        ("{n:03}-{stem}", "007-car-1"),
        ("{n:3}", "  7"),
        ("{n}", "7"),
        ("{width:05}", "00800"),
        ("{stem}.{ext}", "car-1.jpg"),
        ("{{{stem}}}", "{car-1}"),
        ("product", "product"),
        ("ünïcödé {stem}", "ünïcödé car-1"),
    ],
)
def test_rendering(text, name):
    assert NameTemplate.parse(text).render(CAR) == name


def test_fields_lists_what_the_template_uses():
    assert NameTemplate.parse("{stem}-{width:04}").fields == {"stem", "width"}
    assert NameTemplate.parse("x").fields == frozenset()


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("{size}", "unknown field {size}; use {stem}, {ext}, {preset}"),
        ("{}", "unknown field {}"),
        ("{0}", "unknown field {0}"),
        ("{Stem}", "unknown field {Stem}"),
        ("{stem.__class__}", "reaches into a field"),
        ("{stem.__class__.__mro__}", "reaches into a field"),
        ("{stem[0]}", "reaches into a field"),
        ("{n!r}", "converts a field"),
        ("{stem!s}", "converts a field"),
        ("{stem:>10}", "only n, width and height take a width"),
        ("{n:x}", "only n, width and height"),
        ("{n:03d}", "only n, width and height"),
        ("{n:{width}}", "only n, width and height"),
        ("{n:0999999999}", "only n, width and height"),
        ("{n:-3}", "only n, width and height"),
        ("{stem", "unbalanced brace"),
        ("stem}", "unbalanced brace"),
        ("{stem}}", "unbalanced brace"),
        ("{", "unbalanced brace"),
        ("{stem}/{n}", "a slash"),
        ("a\\b", "a backslash"),
        ("a\x00b", "a NUL character"),
        ("a\nb", "a control character"),
        ("", "an empty name"),
        ("   ", "an empty name"),
        (".", "not a file name"),
        ("..", "not a file name"),
    ],
)
def test_every_bad_template_is_one_clear_sentence(text, words):
    with pytest.raises(UsageError) as caught:
        NameTemplate.parse(text)
    message = str(caught.value)
    assert words in message
    assert "\n" not in message and message.endswith(".")
    assert message.startswith("The name template ")


@pytest.mark.parametrize(
    ("template", "context", "words"),
    [
        ("{profile}", NameContext("a", "jpg", "web", "", 1, 1, 1), "an empty name"),
        ("{stem}-{profile}", NameContext("a", "jpg", "web", "eu/de", 1, 1, 1), "a slash"),
        ("{stem}", NameContext("a\\b", "jpg", "web", "", 1, 1, 1), "a backslash"),
        ("{profile}", NameContext("a", "jpg", "web", "..", 1, 1, 1), "not a file name"),
        ("{profile}", NameContext("a", "jpg", "web", "x\x00", 1, 1, 1), "a NUL"),
    ],
)
def test_values_that_make_no_file_name_are_refused_when_rendered(template, context, words):
    parsed = NameTemplate.parse(template)  # the template itself is fine
    with pytest.raises(UsageError, match=words):
        parsed.render(context)


def test_attribute_access_never_reaches_python_objects():
    """The name is built from the parsed pieces; no object's attributes are ever looked up."""
    for text in ("{stem.__class__}", "{n.real}", "{stem.__init__.__globals__}"):
        with pytest.raises(UsageError):
            NameTemplate.parse(text)
    rendered = NameTemplate.parse("{stem}").render(
        NameContext("{stem.__class__}", "", "", "", 0, 0, 1)
    )
    assert rendered == "{stem.__class__}"  # a value is text, never parsed again


def test_every_documented_field_renders():
    assert FIELDS == ("stem", "ext", "preset", "profile", "width", "height", "n")
    text = "-".join(f"{{{name}}}" for name in FIELDS)
    assert NameTemplate.parse(text).render(CAR) == "car-1-jpg-web-amazon-800-534-7"


def test_a_blank_setting_means_the_inputs_own_names():
    assert optional_template("") is None
    assert optional_template(None) is None
    assert optional_template("{stem}").text == "{stem}"
    with pytest.raises(UsageError):
        optional_template("{nope}")
