"""Helpers for the real-browser tests: a real `streamlit run app.py` server and Debian's Chromium.

Playwright's Python package drives /usr/bin/chromium (headless, --no-sandbox); Playwright's own
browser download is never used. Screenshots go to test-artifacts/ (git-ignored).
"""
from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
STARTUP_TIMEOUT = 120  # seconds for the server to answer /_stcore/health
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"  # the servers' log lines name their level
# A log line that is a problem: a logged warning or error (LOG_FORMAT), Python's "UserWarning: …", a
# TensorFlow (glog) warning or error "W1202 16:20:01.5…", or the head of a traceback or of a logged stack.
STACK_HEAD = re.compile(r"^(Traceback|Stack) \(most recent call last\)")
LOG_PROBLEM = re.compile(rf" (WARNING|ERROR|CRITICAL) |\w+Warning: |^[WEF]\d{{4}} \d\d:\d\d:\d\d|{STACK_HEAD.pattern}")
OURS_SHOWN = 2  # frames of our own code quoted from a stack or traceback (the innermost): where it comes from
HARMLESS_LOG_LINES: tuple[re.Pattern, ...] = ()  # problems that are not ours and do no harm, each with why


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def streamlit_server(env: dict[str, str] | None = None):
    """Start `streamlit run app.py` on a free localhost port; yield its URL; stop it afterwards.

    Args:
        env: variables added to the server's environment (e.g. VIZCORE_MODELS_DIR).
    """
    with streamlit_process(env) as (url, _):
        yield url


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_memory_mb(pid: int) -> float:
    """The most resident memory a process has held (VmHWM), in MB."""
    line = next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("VmHWM"))
    return int(line.split()[1]) / 1024


@contextlib.contextmanager
def streamlit_process(env: dict[str, str] | None = None):
    """As streamlit_server, yielding (URL, the server's Popen). Once the server has stopped, fails
    (AssertionError) if its log holds a warning or a traceback (``log_problems``), naming the lines."""
    port = free_port()
    ARTIFACTS.mkdir(exist_ok=True)
    log_path = ARTIFACTS / f"streamlit-{port}.log"
    log = open(log_path, "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
         "--logger.messageFormat", LOG_FORMAT],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process)
        yield url, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
    problems = log_problems(log_path.read_text(errors="replace"))  # only when the tests ran: theirs fail first
    assert not problems, f"the server log {log_path.name} has warnings or tracebacks:\n" + "\n".join(problems)


def log_problems(text: str) -> list[str]:
    """The problems of a server log (``log_entries`` whose first line is a LOG_PROBLEM, less the
    HARMLESS_LOG_LINES), each shortened to its line and, of its stack or traceback, the head, the
    innermost frames of our own code and the innermost frame, and the exception's line."""
    problems = []
    for entry in log_entries(text):
        if not LOG_PROBLEM.search(entry[0]) or any(harmless.search(entry[0]) for harmless in HARMLESS_LOG_LINES):
            continue
        head = next((number for number, line in enumerate(entry) if STACK_HEAD.match(line)), len(entry))
        frames: list[list[str]] = []  # each a 'File "…", line …' line and the source lines under it
        for line in entry[head + 1:]:
            if line.lstrip().startswith('File "') or not frames:
                frames.append([line])
            else:
                frames[-1].append(line)
        last = [frame.pop() for frame in frames[-1:] if not frame[-1].startswith((" ", "\t"))]
        ours = [number for number, frame in enumerate(frames) if our_code(frame[0])][-OURS_SHOWN:]
        shown = sorted(set(ours + [len(frames) - 1])) if frames else []
        lines = entry[:head + 1]
        for before, number in zip([-1] + shown, shown):
            lines += (["  …"] if number > before + 1 else []) + frames[number]
        problems.append("\n".join(lines + last))
    return problems


def our_code(frame: str) -> bool:
    """Whether a stack's 'File "…"' line is in this project (not in an installed package)."""
    return f'"{ROOT}/' in frame and "site-packages" not in frame


def log_entries(text: str) -> list[list[str]]:
    """A log's entries, each a list of lines: a line and the indented lines under it. A stack or a
    traceback belongs to the logged warning or error just before it, holds only its frames ('  File
    "…"' and the more indented lines under them), and a traceback ends with the exception's line.
    Blank lines are left out."""
    entries: list[list[str]] = []
    in_stack = in_traceback = False  # the last entry's stack is open; its traceback awaits the exception's line
    for line in text.splitlines():
        if not line.strip():
            continue
        if STACK_HEAD.match(line):
            if entries and len(entries[-1]) == 1 and LOG_PROBLEM.search(entries[-1][0]):
                entries[-1].append(line)  # logged with stack_info or exc_info
            else:
                entries.append([line])  # printed on its own
            in_stack, in_traceback = True, line.startswith("Traceback")
        elif in_stack and line.startswith(('  File "', "    ")):
            entries[-1].append(line)
        elif in_traceback:
            entries[-1].append(line)  # the exception's line
            in_stack = in_traceback = False
        elif entries and not in_stack and line.startswith((" ", "\t")):
            entries[-1].append(line)
        else:
            entries.append([line])
            in_stack = False
    return entries


def _wait_healthy(url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with {process.returncode}; see test-artifacts/")
        with contextlib.suppress(OSError):
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read().strip() == b"ok":
                return
        time.sleep(0.5)
    raise TimeoutError(f"streamlit did not become healthy at {url}")


def launch_chromium(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


def wait_for_app(page, timeout_ms: int = 180_000) -> None:
    """Wait until Streamlit has finished running the script: the app's script state (which the
    frontend sets to rerunRequested as soon as a widget changes) is neither running nor about to,
    and there is no 'Running…' status widget (not every toolbar mode shows one)."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout_ms)
    page.wait_for_function(
        """() => {
            const state = document.querySelector('[data-testid="stApp"]').dataset.testScriptState;
            const status = document.querySelector('[data-testid="stStatusWidget"]');
            return state !== 'running' && state !== 'rerunRequested'
                && !(status && status.innerText.includes('Running'));
        }""", timeout=timeout_ms)


SETTLE_MS = 500  # after the last element arrives, time for charts and progress bars to draw


def wait_settled(page, timeout_ms: int = 180_000) -> None:
    """wait_for_app, then until no element of an earlier run is left (faded, "stale") and every
    image has loaded: what a screenshot should show."""
    wait_for_app(page, timeout_ms)
    page.wait_for_function("() => !document.querySelector('[data-stale=\"true\"]')"
                           " && [...document.images].every(image => image.complete)", timeout=timeout_ms)
    page.wait_for_timeout(SETTLE_MS)


def exception_boxes(page) -> list[str]:
    """Text of any exception box Streamlit shows (there must be none)."""
    return [element.inner_text() for element in page.query_selector_all('[data-testid="stException"]')]


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def choose(page, label: str, option: str, *, scope=None) -> None:
    """Pick ``option`` in the Streamlit selectbox labelled ``label`` (in ``scope``, default the page)."""
    root = scope or page
    box = root.locator('[data-testid="stSelectbox"]').filter(has_text=label).first
    field = box.get_by_role("combobox")
    field.click()
    field.fill(option)  # long lists are virtualised: type to filter them
    page.get_by_role("option").filter(has_text=option).first.click()


def open_top_page(page, title: str) -> None:
    """Go to another page through the app's top navigation (the session, and its model, stay)."""
    page.locator('[data-testid="stTopNavLink"]').filter(has_text=title).first.click()
    wait_for_app(page)


def upload(page, data: bytes, filename: str, *, scope=None, mime: str = "application/octet-stream") -> None:
    """Put a file into the first Streamlit file uploader (in ``scope``)."""
    root = scope or page
    root.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(
        {"name": filename, "mimeType": mime, "buffer": data})


def set_number(page, label: str, value, *, scope=None) -> None:
    """Type a value into the Streamlit number input labelled ``label`` and commit it."""
    field = (scope or page).get_by_label(label, exact=True).first
    field.fill(str(value))
    field.press("Enter")


def slide(page, label: str, *keys: str, scope=None) -> None:
    """Move the Streamlit slider labelled ``label`` with the keyboard (Home, End, ArrowRight, ...)."""
    box = (scope or page).locator('[data-testid="stSlider"]').filter(has_text=label).first
    handle = box.get_by_role("slider").first
    handle.focus()
    for key in keys:
        handle.press(key)


def audit_folder(browser, url: str, folder, height: int, timeout: int, query: str = ""):
    """Open the Audit page (``query``: e.g. ``?model=planted``), type a server folder, press Run and wait
    for its summary; the page."""
    page = browser.new_context(viewport={"width": 1400, "height": height}).new_page()
    page.set_default_timeout(timeout)
    page.goto(f"{url}/audit{query}")
    page.get_by_text("Folder on the server").first.wait_for()
    wait_for_app(page)
    field = page.get_by_test_id("stTextInputField").first
    field.fill(str(folder))
    field.press("Enter")
    wait_for_app(page)
    page.get_by_role("button", name="Run").click()
    page.get_by_text("Click a count to see its photos").wait_for()
    return page
