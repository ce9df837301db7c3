"""premailer, the inliner the design names: CSS rules become ``style`` attributes.

Mail clients that strip ``<style>`` (Gmail's apps, Yahoo, Outlook) then still
show the email as designed. Inlining costs milliseconds a document, which is
why ``fragments.py`` inlines each piece of an edition once, not each email.
"""

from __future__ import annotations

import logging
from typing import ClassVar

from premailer import Premailer


class _Inliner(Premailer):
    """premailer, remembering the rules it derives from a stylesheet.

    premailer re-parses and re-serialises every rule of the same stylesheet
    for each document, which was most of its time per document here. The
    stylesheet is fixed for a run, and the derived rules are plain tuples
    (read, never changed, by ``transform``), so they are safe to keep, and so
    is the text of those left in ``<style>``.
    """

    _rules: ClassVar[dict[tuple, tuple]] = {}
    _leftover: ClassVar[dict[int, tuple[list, str]]] = {}

    # premailer's private method: pyproject.toml bounds premailer to the version tested.
    def _parse_style_rules(self, css_body, ruleset_index):
        key = (
            css_body,
            ruleset_index,
            self.strip_important,
            self.exclude_pseudoclasses,
            self.disable_validation,
        )
        if key not in self._rules:
            self._rules[key] = super()._parse_style_rules(css_body, ruleset_index)
        return self._rules[key]

    # The rules that stay in <style> (media queries), written out again for every
    # document: 4 of a small document's 5 ms. They are the list ``_rules`` keeps.
    def _css_rules_to_string(self, rules):
        known = self._leftover.get(id(rules))
        if known is None or known[0] is not rules:
            known = self._leftover[id(rules)] = (rules, super()._css_rules_to_string(rules))
        return known[1]


def inline_css(html: str) -> str:
    return _Inliner(
        html,
        allow_network=False,
        disable_validation=True,
        keep_style_tags=False,
        remove_classes=False,
        strip_important=False,
        cssutils_logging_level=logging.CRITICAL,
    ).transform()
