"""The messages' words: one Jinja2 template per kind and language (``templates/``), each with
a ``subject`` block and a ``body`` block. Plain text, so nothing is HTML-escaped; a missing
variable is an error, never an empty gap in a message."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import jinja2

__all__ = ["KINDS", "LANGUAGES", "Rendered", "render", "template_names"]

#: Vietnamese first: the default for a contact without a known language.
LANGUAGES = ("vi", "en")
KINDS = ("reminder", "overdue", "digest")


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("baocao.app.notifier", "templates"),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def template_names() -> list[str]:
    """The templates the package carries (every kind in every language)."""
    return sorted(_environment().list_templates())


def render(kind: str, language: str, context: dict[str, Any]) -> Rendered:
    """The subject and text of ``kind`` in ``language`` (``vi`` when not one we have)."""
    language = language if language in LANGUAGES else LANGUAGES[0]
    template = _environment().get_template(f"{kind}.{language}.txt")
    bound = template.new_context(context)
    subject = "".join(template.blocks["subject"](bound)).strip()
    text = "".join(template.blocks["body"](bound)).strip() + "\n"
    return Rendered(subject=" ".join(subject.split()), text=text)
