"""Nothing leaves the machine: a walk through every page in a real browser asks no host but the app's.

Every request of the walk (the pages' scripts, fonts, icons, images, the favicon, the websocket) is
recorded and each must go to the app's own host and port. The server log of every browser module is
checked in tests/browser.py (``log_problems``); its filter is tested here too.
"""
from __future__ import annotations

import os
import re
import shutil
from urllib.parse import urlsplit

import pytest
from browser import ROOT, exception_boxes, log_problems, open_top_page, screenshot, set_number, wait_settled

TIMEOUT = 300_000  # ms: a cold model load on 2 CPU cores shared with other sessions
WHY = "Why this class?"
WALK = ("Filters", "Heatmaps", WHY, "Dream", "Home")  # the top navigation, after Home
IN_PAGE = ("data", "blob", "about")  # URL schemes that ask no host
ICON_FONT = "Material Symbols Rounded"  # the font of :material/…: icons, in the Streamlit wheel
needs_chromium = pytest.mark.skipif(not os.path.exists("/usr/bin/chromium") and not shutil.which("chromium"),
                                    reason="Debian's chromium is not installed (.ci/run installs it)")


def foreign_requests(urls, app_url: str) -> list[str]:
    """The URLs among ``urls`` that go to another host (or port) than the app at ``app_url``."""
    app = urlsplit(app_url).netloc
    return [url for url in urls if urlsplit(url).scheme not in IN_PAGE and urlsplit(url).netloc != app]


def test_a_request_to_another_host_is_named():
    app = "http://127.0.0.1:8501"
    asked = [f"{app}/", f"{app}/static/media/MaterialSymbols-Rounded.nEdyypZU.woff2",
             "ws://127.0.0.1:8501/_stcore/stream",
             "data:image/png;base64,iVBORw0KGgo=", "blob:http://127.0.0.1:8501/0b1c", "about:blank",
             "https://fonts.gstatic.com/s/i/short-term/release/materialsymbolsrounded/visibility/default/24px.svg",
             "http://127.0.0.1:9000/elsewhere", "http://localhost:8501/another-name"]
    assert foreign_requests(asked, app) == asked[-3:]


VENV = f"{ROOT}/.venv/lib/python3.11/site-packages/streamlit"
STREAMLIT_WARNING = (
    '2026-12-02 16:22:29.239 WARNING streamlit.elements.lib.policies: The widget with key "filters_show" was created '
    "with a default value but also had its value set via the Session State API.\n"
    "Stack (most recent call last):\n"
    '  File "/usr/lib/python3.11/threading.py", line 1002, in _bootstrap\n    self._bootstrap_inner()\n'
    f'  File "{ROOT}/app.py", line 75, in <module>\n    navigation.run()\n'
    f'  File "{VENV}/navigation/page.py", line 574, in run\n    exec(code, module.__dict__)  # noqa: S102\n'
    f'  File "{ROOT}/pages/filters.py", line 188, in layer_picker\n    return place.selectbox("Layer", names,\n'
    f'  File "{VENV}/elements/widgets/selectbox.py", line 745, in _selectbox\n    check_widget_policies(\n'
    f'  File "{VENV}/elements/lib/policies.py", line 90, in check_session_state_rules\n    _LOGGER.warning(\n'
    "  Stopping...\n")
TRACEBACK = ('Traceback (most recent call last):\n  File "/work/main/app.py", line 3, in <module>\n    main()\n'
             "ValueError: no\n2026-12-02 16:22:30.001 INFO vizcore: a later line\n")
CLEAN = ("2026-12-02 16:11:49.724 INFO streamlit.web.server.server: Uvicorn server started on 127.0.0.1:8631\n\n"
         "  You can now view your Streamlit app in your browser.\n\n  URL: http://127.0.0.1:8631\n\n  Stopping...\n")


@pytest.mark.parametrize("log, shown, left_out", [
    (CLEAN, [], []),
    (STREAMLIT_WARNING, ['"filters_show"', "Stack (most recent call last)", "  …", "app.py", "filters.py\", line 188",
                         'place.selectbox("Layer"', "policies.py"],
     ["threading.py", "selectbox.py", "Stopping"]),  # our innermost frames and the innermost one say where
    (TRACEBACK, ["Traceback", "app.py", "ValueError: no"], ["a later line"]),
    ("/work/x.py:3: UserWarning: something is off\n  warnings.warn(\n", ["UserWarning", "warnings.warn("], []),
    ("2026-12-02 16:20:01.511 ERROR streamlit: uncaught\n", ["ERROR streamlit: uncaught"], []),
    ("W1202 16:20:01.511 4711 tf_op.cc:12] an op is slow\n", ["an op is slow"], []),
], ids=["clean", "widget-warning", "traceback", "python-warning", "error", "tensorflow-warning"])
def test_a_server_log_with_a_warning_or_a_traceback_is_a_problem(log, shown, left_out):
    problems = log_problems(log)
    assert len(problems) == (1 if shown else 0), problems
    for words in shown:
        assert words in problems[0], problems[0]
    for words in left_out:
        assert words not in problems[0], problems[0]


def test_only_the_harmless_lines_named_are_let_through(monkeypatch):
    import browser
    log = CLEAN + STREAMLIT_WARNING + "2026-12-02 16:22:31.000 WARNING other: not harmless\n"
    monkeypatch.setattr(browser, "HARMLESS_LOG_LINES", (re.compile(r'key "filters_show"'),))
    assert [problem.splitlines()[0] for problem in log_problems(log)] == [
        "2026-12-02 16:22:31.000 WARNING other: not harmless"]


@needs_chromium
def test_a_walk_through_every_page_asks_only_the_app(server, browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    asked: list[str] = []
    context.on("request", lambda request: asked.append(request.url))
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    page.on("websocket", lambda socket: asked.append(socket.url))
    page.goto(server)
    wait_settled(page, TIMEOUT)
    for title in WALK:
        if title == WHY:  # its feature pictures: a one-step run at once, not the default run (asked for alike)
            page.locator('[data-testid="stTopNavLink"]').filter(has_text=title).first.click()
            set_number(page, "Steps", 1)
        else:
            open_top_page(page, title)
        wait_settled(page, TIMEOUT)
        assert not exception_boxes(page), title
    screenshot(page, "offline-home")
    assert not foreign_requests(asked, server), "requests to other hosts:\n" + "\n".join(
        sorted(set(foreign_requests(asked, server))))
    assert any(urlsplit(url).path.startswith("/_stcore/stream") for url in asked)  # the websocket was recorded
    assert any("MaterialSymbols" in url for url in asked)  # the icons' font, from the app
    assert page.evaluate("family => [...document.fonts].some(face => face.family.replaceAll('\"', '') === family"
                         " && face.status === 'loaded')", ICON_FONT)  # … and loaded
    favicons = page.eval_on_selector_all("link[rel~='icon']", "links => links.map(link => link.href)")
    assert favicons and not foreign_requests(favicons, server), favicons
    context.close()
