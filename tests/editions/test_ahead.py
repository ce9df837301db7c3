"""Segments rendered ahead in a second process are the segments rendered here.

``RenderAhead`` (``digest/editions/ahead.py``) renders an edition's segments in
a spawned child from a pickled copy of the edition's content, with the parent
renderer's placeholders. Whatever it renders must be byte for byte what
``EditionContent.rendered`` makes in the parent, and whatever goes wrong there
(a segment not asked for in order, a render that fails, a warning, the child
killed, stuck or left behind) must leave the send's output as it would be
without it.
"""

from __future__ import annotations

import itertools
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from conftest import NOW, ROOT, article

from digest.config.settings import Settings
from digest.editions import ahead as ahead_module
from digest.editions.ahead import RenderAhead
from digest.editions.contents import EditionContent, local_today, propose_edition
from digest.errors import ConfigError
from digest.rendering.links import Links
from digest.rendering.renderer import Renderer
from digest.store.store import Store

KEYWORDS = ["Climate", "Energy", "Space", "Health", "Technology"]
KEYWORDS += ["Economy", "Politics", "Food", "Sport", "Travel"]
LINKS = Links("https://news.example.org", b"ahead-test-key")
STARTS = 60  # seconds a child may take to start on a busy machine
DONE = "done: it sent every segment"  # why a child that did its work no longer renders


def gone(pid: int) -> bool:
    """Whether process ``pid`` has exited (a zombie nobody reaped yet has)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def until_gone(pid: int, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while not gone(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def make_store(path, articles) -> Store:
    store = Store(f"sqlite:///{path}")
    store.now = lambda: NOW
    store.save_articles(articles)
    return store


def settings_for(templates=ROOT / "templates", **more) -> Settings:
    return Settings(
        templates_dir=templates,
        public_url="https://news.example.org",
        postal_address="1 Road & Co, <Town>",
        **more,
    )


def day() -> list:
    """Forty stories, each on two of the keywords, titles with markup characters."""
    return [
        article(
            f"Story {n} & <the> \u201cmatter\u201d",
            [KEYWORDS[n % 10], KEYWORDS[n * 3 % 10]],
            source=["Example Times", "Ünïcode Wire"][n % 2],
        )
        for n in range(40)
    ]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A store with a day's stories; (store, settings, edition)."""
    store = make_store(tmp_path_factory.mktemp("ahead") / "digest.db", day())
    settings = settings_for()
    yield store, settings, propose_edition(store, settings, NOW.date(), "UTC", NOW)
    store.close()


def choices() -> list[tuple[str, object]]:
    """A few hundred segments' topics as subscribers hold them (spellings of their
    own, a topic no story has yet), and some of people who had part of the window."""
    made = [(";".join(c), None) for n in (1, 2, 3, 4) for c in itertools.combinations(KEYWORDS, n)]
    made += [("climate;Quantum Gravity", None), ("", None), ("ENERGY;space", None)]
    made += [(t, NOW - timedelta(hours=1)) for t, _ in made[:5]]
    return made


def planned(content: EditionContent, wanted) -> list[str]:
    """The segments of ``wanted`` as planning maps them, the empty ones left out."""
    found = [content.segment_of(topics, since) for topics, since in wanted]
    return list(dict.fromkeys(key for key, empty in found if not empty))


def started(content: EditionContent, segments: list[str], **kwargs) -> RenderAhead:
    ahead = RenderAhead.start(content, segments, **kwargs)
    assert ahead.started(STARTS), ahead.stopped
    return ahead


def test_a_detached_content_pickles_without_the_store_and_renders_with_the_same_placeholders(
    site,
):
    store, settings, edition = site
    renderer = Renderer(settings)
    content = EditionContent(store, settings, edition, renderer)
    segment = planned(content, [("Climate;Quantum Gravity", None)])[0]
    content.rendered(segment)
    copy = pickle.loads(pickle.dumps(content.detached()))
    assert copy.store is None and content.store is store
    assert copy._rendered == {} and copy._sections == {}  # no caches go with it
    assert copy.renderer is not renderer
    assert copy.renderer.personal.placeholders == renderer.personal.placeholders
    assert copy.renderer.personal.text_placeholders == renderer.personal.text_placeholders
    assert copy.rendered(segment) == content.rendered(segment)


def test_every_segment_rendered_ahead_is_the_segment_rendered_here(site):
    store, settings, edition = site
    renderer = Renderer(settings)
    content = EditionContent(store, settings, edition, renderer)
    segments = planned(content, choices())
    assert len(segments) >= 300
    # The reference: a content of its own (nothing shared with what the child was
    # sent), rendering with the same renderer, as a send without the child would.
    here = EditionContent(store, settings, edition, renderer)
    planned(here, choices())
    with started(content, segments) as ahead:
        for n, segment in enumerate(segments):
            theirs, ours = ahead.rendered(segment), here.rendered(segment)
            assert (theirs.subject, theirs.html, theirs.text) == (
                ours.subject,
                ours.html,
                ours.text,
            ), segment
            # Made there, filled here: the parent's placeholders are in it.
            token = LINKS.token(n, f"reader{n}@example.com")
            filled = renderer.personal.fill(theirs, f"Reader {n} & <co>", token, "Ann")
            assert filled == renderer.personal.fill(ours, f"Reader {n} & <co>", token, "Ann")
            assert f"/unsubscribe/{token}" in filled.html and "Hello Ann" in filled.text
            assert "%%" not in filled.html + filled.text
        assert ahead.taken == len(segments) and ahead.rendered_here == 0
        assert "Quantum Gravity" in ahead.rendered("climate;quantum gravity").text


def test_segments_asked_out_of_order_or_not_listed_are_still_right(site):
    store, settings, edition = site
    renderer = Renderer(settings)
    content = EditionContent(store, settings, edition, renderer)
    segments = planned(content, choices())[:80]
    unlisted = planned(content, choices())[-1]
    here = EditionContent(store, settings, edition, renderer)
    planned(here, choices())
    # Ahead, back, a jump past what the child sent, the same segment twice (a
    # segment of several batches), and one it never had.
    asked = [*segments[5:10], *segments[:5], segments[60], segments[30], segments[60], unlisted]
    asked += segments[61:]
    with started(content, segments, depth=4) as ahead:
        for segment in asked:
            assert ahead.rendered(segment) == here.rendered(segment), segment
        assert ahead.taken > 20 and ahead.rendered_here >= 2  # the unlisted one, one passed
        assert ahead.stopped in ("", DONE)


def test_one_child_renders_edition_after_edition_and_nothing_of_one_reaches_the_next(site):
    """A send keeps one child for all its editions. Each edition is left half
    taken, with renders of it still on their way when the next begins: none of
    them may be taken for the next edition's segment of the same position."""
    store, settings, edition = site
    renderer = Renderer(settings)
    zone = "America/New_York"
    other = propose_edition(store, settings, local_today(zone, NOW), zone, NOW)
    segments = planned(EditionContent(store, settings, edition, renderer), choices())
    runs = [(edition, segments[:60]), (other, segments[:60]), (edition, segments[60:0:-1])]
    with RenderAhead(depth=4) as ahead:
        pids = set()
        for run, (wanted, order) in enumerate(runs):
            content = EditionContent(store, settings, wanted, renderer)
            here = EditionContent(store, settings, wanted, renderer)
            planned(content, choices()), planned(here, choices())
            with ahead.rendering(content, order):
                assert ahead.started(STARTS), ahead.stopped
                pids.add(ahead.pid)
                for segment in order[:30]:
                    assert ahead.rendered(segment) == here.rendered(segment), (run, segment)
        assert len(pids) == 1  # the same child each time, started once
        assert ahead.taken == 90 and ahead.rendered_here == 0
    assert until_gone(pids.pop())


def test_a_child_killed_midway_leaves_the_rest_to_the_parent(site):
    store, settings, edition = site
    renderer = Renderer(settings)
    content = EditionContent(store, settings, edition, renderer)
    segments = planned(content, choices())[:100]
    here = EditionContent(store, settings, edition, renderer)
    planned(here, choices())
    with started(content, segments, depth=8) as ahead:
        for segment in segments[:20]:
            assert ahead.rendered(segment) == here.rendered(segment)
        os.kill(ahead.pid, signal.SIGKILL)
        for segment in segments[20:]:
            assert ahead.rendered(segment) == here.rendered(segment)
        assert ahead.stopped == "it is gone (its pipe closed)"  # its pipe is how it is watched
        assert ahead.taken >= 20 and ahead.rendered_here > 0


def test_a_stuck_child_is_given_up_rather_than_waited_for(site, monkeypatch):
    store, settings, edition = site
    content = EditionContent(store, settings, edition, Renderer(settings))
    segments = planned(content, choices())[:50]
    monkeypatch.setattr(ahead_module, "WAIT_SECONDS", 0.5)
    with started(content, segments, depth=2) as ahead:
        os.kill(ahead.pid, signal.SIGSTOP)
        asked = time.monotonic()
        for segment in segments[10:20]:
            assert ahead.rendered(segment) == content.rendered(segment)
        assert time.monotonic() - asked < 5
        assert ahead.stopped.startswith("no render in")
        pid = ahead.pid
    assert until_gone(pid)


def test_a_broken_template_raises_the_same_error_as_rendering_here(site, tmp_path):
    store, _, edition = site
    folder = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", folder)
    parts = folder / "parts.html.j2"
    parts.write_text(parts.read_text("utf-8").replace("{{ title }}", "{{ title }"), "utf-8")
    settings = settings_for(folder)
    content = EditionContent(store, settings, edition, Renderer(settings))
    segments = planned(content, choices())[:3]
    with pytest.raises(ConfigError) as here:
        EditionContent(store, settings, edition, Renderer(settings)).rendered(segments[0])
    assert str(here.value).startswith(f"template {parts}:")
    with started(content, segments) as ahead:
        assert ahead.started()
        with pytest.raises(ConfigError) as there:
            ahead.rendered(segments[0])
        assert str(there.value) == str(here.value)
        assert ahead.taken == 0 and ahead.stopped in ("", DONE)  # it failed there; raised here


def test_a_size_guard_warning_given_in_the_child_is_given_again_in_the_parent(tmp_path):
    big = [
        article(f"Story {n} about the matter at hand", ["Climate", "Energy"][n % 2 :])
        for n in range(260)
    ]
    for story in big:
        story.summary = "A long summary sentence that goes on. " * 8
    store = make_store(tmp_path / "digest.db", big)
    settings = settings_for(max_per_section=300)  # one email of every story: too big
    edition = propose_edition(store, settings, NOW.date(), "UTC", NOW)
    renderer = Renderer(settings)
    content = EditionContent(store, settings, edition, renderer)
    segments = planned(content, [("", None), ("Energy", None)])
    with pytest.warns(UserWarning, match="more than Gmail shows whole") as here:
        reference = EditionContent(store, settings, edition, renderer)
        planned(reference, [("", None)])
        expected = reference.rendered(segments[0])
    with started(content, segments) as ahead:
        with pytest.warns(UserWarning, match="more than Gmail shows whole") as there:
            assert ahead.rendered(segments[0]) == expected
        assert [str(w.message) for w in there] == [str(w.message) for w in here]
        assert ahead.taken == 1
    store.close()


def test_a_ctrl_c_is_the_parents_to_act_on_not_the_childs(site):
    store, settings, edition = site
    content = EditionContent(store, settings, edition, Renderer(settings))
    segments = planned(content, choices())[:40]
    with RenderAhead.start(content, segments, depth=4) as ahead:
        # A terminal's Ctrl-C goes to its foreground process group: never the child's.
        assert os.getpgid(ahead.pid) != os.getpgrp()
        assert os.getsid(ahead.pid) != os.getsid(0)
        assert ahead.started(STARTS), ahead.stopped
        os.kill(ahead.pid, signal.SIGINT)  # nor does one sent to it alone stop it
        for segment in segments:
            assert ahead.rendered(segment) == content.rendered(segment)
        assert ahead.taken >= 30 and ahead.stopped in ("", DONE)


def test_close_leaves_no_child_and_renders_after_it_are_made_here(site):
    store, settings, edition = site
    content = EditionContent(store, settings, edition, Renderer(settings))
    segments = planned(content, choices())[:40]
    ahead = started(content, segments, depth=4)
    pid = ahead.pid
    assert not gone(pid)
    ahead.close()
    assert gone(pid) and not os.path.exists(f"/proc/{pid}")  # exited and reaped
    ahead.close()  # again: nothing to do
    assert ahead.rendered(segments[0]) == content.rendered(segments[0])
    # Closed while it is still starting (reading its payload).
    early = RenderAhead.start(content, segments)
    pid = early.pid
    early.close()
    assert not os.path.exists(f"/proc/{pid}")


PARENT = """
import sys, time
from datetime import datetime

from digest.config.settings import Settings
from digest.editions.ahead import RenderAhead
from digest.editions.contents import EditionContent, local_today, propose_edition
from digest.rendering.renderer import Renderer
from digest.store.store import Store

if __name__ == "__main__":
    store = Store(sys.argv[1])
    settings = Settings(templates_dir=sys.argv[2])
    now = datetime.fromisoformat(sys.argv[3])
    edition = propose_edition(store, settings, now.date(), "UTC", now)
    content = EditionContent(store, settings, edition, Renderer(settings))
    segments = [content.segment_of(t)[0] for t in ("climate", "energy", "space", "food")]
    ahead = RenderAhead.start(content, segments * 50, depth=1)
    assert ahead.started(60), ahead.stopped
    print(ahead.pid, flush=True)
    time.sleep(600)
"""


def test_a_child_whose_parent_is_killed_exits_by_itself(site, tmp_path):
    store = site[0]
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    parent = subprocess.Popen(
        [sys.executable, script, store.url, ROOT / "templates", NOW.isoformat()],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = parent.stdout.readline()
        assert line.strip().isdigit(), parent.stderr.read()
        child = int(line)
        assert not gone(child)
        parent.kill()
        parent.wait()
        assert until_gone(child), "the child outlived its parent"
        # Quietly: a child that goes because its parent went prints nothing.
        assert "Traceback" not in parent.stderr.read()
    finally:
        parent.kill()
        parent.wait()


def test_it_is_worth_it_for_an_edition_of_many_segments_on_two_cores(monkeypatch):
    # An edition of a million subscribers' 24,000 segments over 5 zones, and of 2,400.
    monkeypatch.setattr(ahead_module, "_cores", lambda: 2)
    assert RenderAhead.worth_it(4_800)
    assert not RenderAhead.worth_it(480)
    assert RenderAhead.worth_it(480, force=True)
    monkeypatch.setattr(ahead_module, "_cores", lambda: 1)
    assert not RenderAhead.worth_it(4_800)
    monkeypatch.setattr(ahead_module, "ENABLED", False)
    monkeypatch.setattr(ahead_module, "_cores", lambda: 2)
    assert not RenderAhead.worth_it(4_800)
    assert RenderAhead.worth_it(4_800, force=True)
