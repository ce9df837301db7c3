"""Rendering: Jinja2 → premailer (CSS inlined) for HTML, its own template for text.

A segment's email is joined from pieces rendered and inlined once per edition
(``fragments.py``), with placeholders where the per-recipient values go
(``render_segment``); each recipient's copy is then made by substitution,
with the placeholders and escaping of the renderer's ``Personalisation``
(``personal.py``). ``render`` makes one copy whole, the reference both must equal.
"""

from __future__ import annotations

import re
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import jinja2

from digest.config.settings import Settings
from digest.errors import ConfigError
from digest.grouping.front import FrontPage, front_page, is_front
from digest.grouping.sections import MORE_NEWS_KEY, Section
from digest.models import Edition
from digest.rendering import fitting, plaintext, wording
from digest.rendering.compiled import CompiledTemplates
from digest.rendering.fragments import HtmlPieces, NotComposed, Pieces, Slots, cached, direct
from digest.rendering.inlining import inline_css
from digest.rendering.personal import FIELDS, Personalisation
from digest.validate import safe_link


@dataclass(frozen=True)
class Rendered:
    subject: str
    html: str
    text: str


SUBJECT_COLUMNS = 48  # what a phone's inbox shows of a subject (Gmail's app at 375 px: ~40-50)
LEAD_COLUMNS = 24  # the lead keeps at least this much, whatever the template around it
LEAD_LONGEST = 90  # ... and, where the template leaves it less, this much


def topics_of(sections: Sequence[Section]) -> list[tuple[str, str]]:
    """(key, title) of the edition's sections, those the front page emptied included."""
    if sections and isinstance(sections[0], FrontPage):
        return sections[0].topics
    return [(s.key, s.title) for s in sections if not is_front(s)]


def subject_for(
    template: str, edition: Edition, sections: Sequence[Section], count: int | None = None
) -> str:
    """The subject line (by default the lead headline and how many more); one line.

    ``count`` is the number of stories the email shows (default: every article
    in ``sections``). The lead is shortened so that the whole line fits
    ``SUBJECT_COLUMNS`` display columns: what an inbox cuts is then never the
    "+ 12 more", which would read as a different count.
    """
    topical = topics_of(sections)
    named = [title for key, title in topical if key != MORE_NEWS_KEY] or [t for _, t in topical]
    day = edition.date
    if count is None:
        count = sum(len(s.articles) for s in sections)
    lead = next((a.title for s in sections for a in s.articles), "")
    if count <= 1:
        # "Lead + 0 more" reads like a bug: a one-story day leaves the tail out.
        template = re.sub(r"\s*[+&,]?\s*(and\s+)?\{more\}\s*more\b", "", template)
    values = {
        "date": f"{day.day} {day:%B %Y}",
        "keywords": ", ".join(named[:3]),
        "count": count,
        "more": max(count - 1, 0),
    }
    around = plaintext.width(" ".join(template.format(lead="x", **values).split())) - 1
    room = SUBJECT_COLUMNS - around
    if room < LEAD_COLUMNS:
        # A template whose other fields fill the line was not made for a phone's
        # inbox: the lead keeps a line of its own rather than shrink to a stub.
        room = LEAD_LONGEST
    text = template.format(lead=wording.shorten(lead, room), **values)
    return " ".join(text.split())


# Shared by every Renderer: their environments are made with the same options.
COMPILED = CompiledTemplates()


class Renderer:
    def __init__(self, settings: Settings, personal: Personalisation | None = None) -> None:
        """``personal``: another renderer's placeholders, for a renderer in another
        process whose segments that renderer's sender fills (``editions/ahead.py``)."""
        self.settings = settings
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(settings.templates_dir)),
            autoescape=jinja2.select_autoescape(
                enabled_extensions=("html", "html.j2"),
                disabled_extensions=("txt", "txt.j2", "css"),
                default=True,
            ),
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            undefined=jinja2.StrictUndefined,
            # The templates are fixed for a run: no stat() of each file per render.
            auto_reload=False,
            # ... and each one compiled once a process, not once a renderer.
            bytecode_cache=COMPILED,
        )
        # Links are checked again here, not only at ingest: an article stored by an
        # older release (or straight into the database) must not become a script link.
        self.env.filters["href"] = safe_link
        self.env.filters.update(
            anchor=wording.anchor,
            folding=wording.folding,
            lede=wording.lede,
            and_list=wording.and_list,
            local_time=lambda when, edition: wording.local_time(when, edition.date, edition.zone),
            topic_count=lambda section: f"{section.title} ({section.total})",
            wrap=plaintext.wrap,
            underline=plaintext.underline,
        )
        self.env.globals["plural"] = wording.plural
        # Its placeholders are in every segment rendered here: only it can fill them.
        self.personal = personal or Personalisation(settings)
        self.slots = Slots()
        self._editions: dict[tuple, tuple[HtmlPieces, Pieces]] = {}
        # Set once an operator's own template proves not to be made of pieces.
        self._whole_only = False

    def __reduce__(self) -> tuple:
        # Its Jinja2 environment holds lambdas and its pieces are a cache: what
        # another process needs is a renderer of the same settings whose segments
        # carry the same placeholders, so that this one's sender can fill them.
        return (Renderer, (self.settings, self.personal))

    def render(
        self,
        edition: Edition,
        sections: Sequence[Section],
        topics: Sequence[str],
        greeting: str,
        unsubscribe_url: str,
        view_url: str = "",
        preferences_url: str | None = None,
    ) -> Rendered:
        """One finished copy, with whatever greeting and links it is given, rendered
        whole: what a copy made by substitution must equal. "Manage topics" goes to
        the unsubscribe page unless given (that page offers the topics too)."""
        values = {
            "greeting": greeting,
            "unsubscribe_url": unsubscribe_url,
            "preferences_url": unsubscribe_url if preferences_url is None else preferences_url,
        }
        return self._render(edition, sections, topics, values, values, view_url, whole=True)

    def render_segment(
        self,
        edition: Edition,
        sections: Sequence[Section],
        topics: Sequence[str],
        view_url: str = "",
        whole: bool = False,
    ) -> Rendered:
        """Once per segment: placeholders for per-recipient values.

        ``view_url`` (the segment's copy in the archive, "View in your
        browser") is the same for everyone in the segment, so it is rendered
        in here, not substituted per recipient; "" leaves the link out.
        ``whole``: render and inline it in one piece, the slow way the joined
        pieces must equal (the size guard keeps the same room for the values).
        """
        return self._render(
            edition,
            sections,
            topics,
            self.personal.placeholders,
            self.personal.text_placeholders,
            view_url,
            whole=whole,
        )

    def render_web(
        self, edition: Edition, sections: Sequence[Section], topics: Sequence[str]
    ) -> Rendered:
        """The copy the archive shows: no greeting, no personal links, nothing to
        substitute (the templates leave out what is empty and ``web`` is true)."""
        values = dict.fromkeys(FIELDS, "")
        return self._render(edition, sections, topics, values, values, "", web=True, whole=True)

    def _render(
        self,
        edition: Edition,
        sections: Sequence[Section],
        topics: Sequence[str],
        html_values: dict[str, str],
        text_values: dict[str, str],
        view_url: str,
        web: bool = False,
        whole: bool = False,
    ) -> Rendered:
        """The email for ``sections``, fitted to the size guard.

        ``whole``: render and inline the email in one piece, as a reference
        (``render``) and for the archive; else join the edition's pieces
        (``fragments.py``), which gives the same bytes in far less time.
        """
        if not sections or not is_front(sections[0]):
            # Sections as grouping made them (the archive's, uncut): the front page is
            # ranked from what they hold. ``EditionContent`` ranks the email's itself.
            sections = front_page(sections, sys.maxsize)
        context = {
            "all_sections": [s for s in sections if not is_front(s)],
            "topic_count": len(topics_of(sections)),
            "topics": topics,
            "view_url": view_url,
            "web": web,
            "toc_size": TOC_SIZE,
        } | self._edition_values(edition)
        html_pieces, text_pieces = self._pieces(edition)

        made: dict[fitting.Cut, dict] = {}  # the cut that fits is asked for twice

        def shown(cut: fitting.Cut) -> dict:
            if cut not in made:
                made[cut] = context | self._shown(edition, sections, cut)
            return made[cut]

        def html(cut: fitting.Cut) -> str:
            values = shown(cut) | html_values
            if not whole and not self._whole_only:
                try:
                    return self._composed(html_pieces, values)
                except NotComposed as reason:
                    self._whole_only |= reason.lasting
            return inline_css(
                self._template("digest.html.j2", values | {"parts": direct(html_pieces)})
            )

        html_of: dict[fitting.Cut, str] = {}

        def size(cut: fitting.Cut) -> int:
            html_of[cut] = page = html(cut)
            room = self.personal.room
            return len(page.encode()) + sum(page.count(p) * n for p, n in room.items())

        count = sum(len(s.articles) for s in sections)
        # A web page is not clipped: the archive's copy shows everything.
        cut, full = fitting.fit(count, size, sys.maxsize if web else fitting.LIMIT)
        if cut.full < count:
            who = wording.and_list(topics) if topics else "every topic"
            warnings.warn(
                f"{edition.label} ({who}): the email would be {full // 1000} KB, more than "
                f"Gmail shows whole; {cut.kept - cut.full} of its {count} articles are shown by "
                f"title only and {count - cut.kept} left out (counted in their sections' "
                '"N more" lines)',
                stacklevel=3,
            )
        final = shown(cut) | text_values
        if whole:
            text = self._template("digest.txt.j2", final | {"parts": direct(text_pieces)})
        else:
            slot = self.slots.names["view_url"]
            values = final | {"view_url": slot if view_url else "", "parts": cached(text_pieces)}
            text = self.slots.fill(self._template("digest.txt.j2", values), {slot: view_url})
        return Rendered(subject=final["subject"], html=html_of[cut], text=text)

    def _composed(self, pieces: HtmlPieces, values: dict) -> str:
        """The email joined from ``pieces``, the segment's own values filled in."""
        names = self.slots.names
        filled = self.slots.html(
            {
                "subject": values["subject"],
                "preheader": values["preheader"],
                "view_url": values["view_url"],
                "topics": wording.and_list(values["topics"]),
            }
        )
        slotted = values | {
            "subject": names["subject"],
            "preheader": names["preheader"] if values["preheader"] else "",
            "view_url": names["view_url"] if values["view_url"] else "",
            "topics": [names["topics"]] if values["topics"] else [],
        }
        page = pieces.compose(
            lambda parts: self._template("digest.html.j2", slotted | {"parts": parts})
        )
        return self.slots.fill(page, filled)

    def _edition_values(self, edition: Edition) -> dict:
        """What every piece of an edition may use besides its arguments."""
        day = edition.date
        return {
            "title": self.settings.title,
            "edition": edition,
            "long_date": f"{day:%A}, {day.day} {day:%B %Y}",
            "postal_address": self.settings.postal_address,
            "toc_size": TOC_SIZE,
        }

    def _pieces(self, edition: Edition) -> tuple[HtmlPieces, Pieces]:
        """The edition's pieces, kept for the few editions rendered last (a send
        goes edition by edition; a preview renders one)."""
        key = (edition.date, edition.timezone)
        if key not in self._editions:
            values = self._edition_values(edition)
            self._editions[key] = (
                HtmlPieces(self.env, "parts.html.j2", values),
                Pieces(self.env, "parts.txt.j2", values),
            )
            while len(self._editions) > KEPT_EDITIONS:
                self._editions.pop(next(iter(self._editions)))
        return self._editions[key]

    def _shown(self, edition: Edition, sections: Sequence[Section], cut: fitting.Cut) -> dict:
        """What one cut of the size guard shows, and the counts that say so.

        Subject, preheader and masthead count the stories the email shows: its
        front page and every article with a line, summary or not. Articles
        counted only in a section's "N more" line, or in "Also today", are not
        shown (they are a link to the web copy away) and are not counted.
        """
        kept = fitting.apply(sections, cut)
        parts, brief_from = list(kept.sections), list(kept.brief_from)
        front, front_brief = None, 0
        if parts and is_front(parts[0]):
            front, front_brief = parts.pop(0), brief_from.pop(0)
        count = sum(len(s.articles) for s in kept.sections)
        top = front.articles if front else [a for s in parts for a in s.articles[:1]]
        lead = top[0] if top else None
        titles = [a.title for a in top] or [a.title for s in parts for a in s.articles[:2]]
        return {
            "subject": subject_for(self.settings.subject, edition, kept.sections, count),
            "preheader": wording.preheader(
                titles, count, [s.title for s in parts], lead.summary if lead else ""
            ),
            "story_count": count,
            "front": front,
            "front_brief": front_brief,
            "sections": parts,
            "brief_from": brief_from,
            "collapsed": [s for s in kept.collapsed if not is_front(s)],
            "article_count": count,
        }

    def _template(self, name: str, context: dict) -> str:
        try:
            return self.env.get_template(name).render(context)
        except Exception as err:
            problem = template_problem(err, self.settings.templates_dir)
            if problem is None:
                raise
            raise ConfigError(problem) from None


TOC_SIZE = 12  # sections named in the contents line; the rest are counted
KEPT_EDITIONS = 4  # editions whose pieces a renderer keeps


def template_problem(err: Exception, folder: Path) -> str | None:
    """``template FILE:LINE: reason`` for an error in the operator's templates, else None.

    The templates are the operator's code: a typo or an undefined variable in
    one is a configuration error, reported with its line, not a crash of
    digest. An error is the template's when Jinja raised it, or when the
    traceback passes through a template file.
    """
    if isinstance(err, jinja2.TemplateSyntaxError):
        return f"template {err.filename or err.name}:{err.lineno}: {err.message}"
    where = _template_frame(err, folder)
    if isinstance(err, jinja2.TemplateNotFound):
        included = f" (included at {where})" if where else ""
        return f"template {err.name}: not found in {folder}{included}"
    reason = str(err) or type(err).__name__
    if isinstance(err, UnicodeDecodeError):
        return f"template {where or 'in ' + str(folder)}: not UTF-8 text ({err.reason})"
    if where is None and not isinstance(err, jinja2.TemplateError):
        return None
    if not isinstance(err, jinja2.TemplateError):
        reason = f"{type(err).__name__}: {reason}"
    return f"template {where or 'in ' + str(folder)}: {reason}"


def _template_frame(err: Exception, folder: Path) -> str | None:
    """``FILE:LINE`` of the innermost template frame in ``err``'s traceback.

    Jinja rewrites tracebacks so that template code shows its file and line.
    A file the loader could not decode is in its ``get_source`` frame.
    """
    found = None
    root = folder.resolve()
    tb = err.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        filename = frame.f_code.co_filename
        if isinstance(err, UnicodeDecodeError):
            if frame.f_code.co_name == "get_source":
                found = frame.f_locals.get("filename")
        elif filename[:1] != "<" and not filename.endswith(".py") and _inside(filename, root):
            found = f"{filename}:{tb.tb_lineno}"
        tb = tb.tb_next
    return found if isinstance(found, str) else None


def _inside(filename: str, folder: Path) -> bool:
    return Path(filename).resolve().is_relative_to(folder)
