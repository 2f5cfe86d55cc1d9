"""What every page shares: the page header, the model picker, the Run button, streaming, caching.

Not a page itself: ``app.py`` lists the pages with ``st.navigation`` and draws the frame (the model
picker in the sidebar) before it runs the chosen page. Each page starts with ``page(title,
caption)``, which returns the model picked, or stops the page with the reason there is none.

Models come from three places: the registry (bundled or keras.applications), the user's models
folder (``vizcore.registry.models_dir()``) and a browser upload. A user's model is loaded once per
file content: an upload is hashed once (per uploader file id), copied to a cache folder named by its
digest (the file keeps the user's name, which messages show), and ``st.cache_resource`` keys the
loaded model on short strings (the digest and the settings), never on the file's bytes. Every
other cache takes the model itself and keys it through ``HASH_FUNCS`` on ``model_identity`` (its
weights' digest and how its output is read), never on ``id(vm)``.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Literal, TypeVar

import numpy as np
import streamlit as st

import vizcore
from pages import links
from ui import keras_state
from vizcore import timeline
from vizcore.images import MAX_FILE_BYTES
from vizcore.photo_store import safe_name
from vizcore.registry import (
    BUNDLED,
    DEFAULT_MODEL,
    MODEL_SUFFIXES,
    MODELS,
    SCALING_WORDS,
    USER_SCALINGS,
    folder_models,
    models_dir,
)

APP = "app.py"                         # the main script: the frame and the Home page
PAGES = [  # (file, title, icon) of the pages after Home, in the top navigation's order
    ("pages/filters.py", "Filters", ":material/grid_view:"),
    ("pages/heatmaps.py", "Heatmaps", ":material/local_fire_department:"),
    ("pages/why.py", "Why this class?", ":material/psychology_alt:"),
    ("pages/dream.py", "Dream", ":material/cloud:"),
    ("pages/audit.py", "Audit", ":material/fact_check:"),
]
UPLOAD_MODEL = "Upload a model file"   # the model picker's last choice
FOLDER = "folder:"                     # prefix of the picker's values for models-folder files
FOLDER_MARK = "(your models folder)"
AUTOMATIC = "automatic"                # the output-kind picker's "detect it" choice
CONFIGURED_PER_FILE = 4                # settings of one model file kept configured at once (each its own views)
HASH_CHUNK = 16 * 2**20                # bytes hashed at a time
PHOTO_MB = MAX_FILE_BYTES // 2**20     # the photo uploader's cap, in MB (the engine's)
LABELS_MB = 1                          # the class-names uploader's cap, in MB
REDRAW_SECONDS = 0.25                  # a stream is drawn at most this often (its last frame always)
OWNER = "_run_owner"                   # session_state: this session's id in the run queue
WAIT_REDRAW_SECONDS = 1.5              # a queued run's place is redrawn at least this often (Stop answers then)
FRAME_DRAWN = "_app_frame_drawn"       # session_state: app.py drew the frame in this rerun
MODEL_TYPE = "vizcore.models.VizModel"  # named, not imported: importing it imports TensorFlow

Frame = TypeVar("Frame")
Result = TypeVar("Result")


# --- loading -------------------------------------------------------------------------------------

@st.cache_resource(show_spinner="Loading the model (the first start converts its weights)…", max_entries=4)
def cached_model(name: str):
    """One registry model per name per process, shared by every session (never mutated)."""
    with timeline.span("loading the model", model=name):
        return vizcore.load_model(name)


class ModelFile:
    """A user's model file read once: its Keras model, and the VizModels configured on it (its settings)."""

    def __init__(self, model):
        from vizcore import user_models
        self.model, self.bytes = model, user_models.memory_estimate(model)
        self.configured: dict[tuple, object] = {}
        self.lock = threading.Lock()


@st.cache_resource(show_spinner=False)
def users_models():
    """Every user's model file this process holds, within the ``user_models_mb`` budget of the server's
    limits (least recently used dropped first): a class where each student brings a model keeps what it
    can and reloads the rest, never more."""
    from vizcore.budget import MemoryBudget
    return MemoryBudget(limits().user_models_mb * 2**20)


def cached_model_file(path: str, identity: str) -> ModelFile:
    """The Keras model in a user's file, read with safe_mode=True once per content (``identity``) while kept."""
    from vizcore import user_models

    def read() -> ModelFile:
        with st.spinner("Loading your model (once per file)…"), timeline.span("loading a user's model", file=path):
            return ModelFile(user_models.read_model_file(Path(path)))

    return users_models().get(identity, read, lambda kept: kept.bytes)


def cached_user_model(path: str, identity: str, companions: str, name: str, scaling: str | None,
                      head: str | None, output: int | None, labels_path: str | None):
    """A user's model with these settings, on the file read once (a new setting never reads the file again)."""
    from vizcore import user_models
    kept = cached_model_file(path, identity)
    settings = (companions, name, scaling, head, output, labels_path)
    with kept.lock:
        vm = kept.configured.get(settings)
        if vm is None:
            vm = user_models.configure(kept.model, path, scaling=scaling, labels_path=labels_path, head=head,
                                       output=output, name=name)
            while len(kept.configured) >= CONFIGURED_PER_FILE:
                kept.configured.pop(next(iter(kept.configured)))
            kept.configured[settings] = vm
        return vm


def uploads_dir() -> Path:
    from vizcore.models import weights_cache_dir
    return weights_cache_dir() / "uploads"


def _stored_upload(upload, suffix: str) -> tuple[Path, str]:
    """(cache file, sha256) of an uploaded file: hashed once per upload, written once per content, as
    ``uploads/models/<digest>/<the user's file name>`` so that every message names the file as the user did."""
    known = st.session_state.get(f"_digest_{suffix}")
    if known and known[0] == upload.file_id:
        digest = known[1]
    else:
        digest = _sha256(upload.getbuffer())
        st.session_state[f"_digest_{suffix}"] = (upload.file_id, digest)
    folder = uploads_dir() / "models" / digest
    path = folder / safe_name(upload.name)
    kept = [other for other in folder.glob("*") if other.suffix.lower() == suffix] if folder.is_dir() else []
    if kept:
        if not path.exists():  # the same file uploaded under another name: messages name it as uploaded now
            with contextlib.suppress(FileExistsError):
                os.link(kept[0], path)
        os.utime(folder)  # recently used: kept longest
        return path, digest
    folder.mkdir(parents=True, exist_ok=True)  # first time, or removed to make room: written again from the session
    partial = folder / f".{os.getpid()}.partial"
    partial.write_bytes(upload.getbuffer())
    os.replace(partial, path)
    _forget_old_uploads()
    return path, digest


def _sha256(buffer) -> str:
    digest, view = hashlib.sha256(), memoryview(buffer)
    for start in range(0, len(view), HASH_CHUNK):
        digest.update(view[start:start + HASH_CHUNK])
    return digest.hexdigest()


def _forget_old_uploads() -> None:
    """Keep model uploads on disk within the ``kept_models_mb`` budget of the server's limits, the least
    recently used removed first and the newest always kept (a loaded model no longer needs its file)."""
    folders = sorted((path for path in (uploads_dir() / "models").glob("*") if path.is_dir()),
                     key=lambda path: path.stat().st_mtime, reverse=True)
    budget, used = limits().kept_models_mb * 2**20, 0
    for number, folder in enumerate(folders):
        used += sum(file.stat().st_size for file in folder.glob("*") if file.is_file())
        if number and used > budget:
            shutil.rmtree(folder, ignore_errors=True)


def _file_identity(path: Path) -> str:
    """Changes when the file is replaced: its path, size and modification time."""
    if not path.is_file():
        return f"{path}:missing"
    stat = path.stat()
    return f"{path}:{stat.st_size}:{stat.st_mtime_ns}"


# --- cache keys ----------------------------------------------------------------------------------

_IDENTITIES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # VizModel → model_identity


def model_identity(vm) -> str:
    """What two loaded models share only if every page shows the same for both: the digest of
    their name, scaling and weights (``vizcore.atlas.model_fingerprint``), the output explained,
    how it is read and the class names. Computed once per loaded model."""
    identity = _IDENTITIES.get(vm)
    if identity is None:
        from vizcore.atlas import model_fingerprint
        labels = hashlib.sha1("\n".join(vm.labels).encode()).hexdigest()[:12]
        head = vm.head.kind if vm.head else "no head"
        identity = _IDENTITIES[vm] = f"{model_fingerprint(vm)}|output {vm.output_index}|{head}|labels {labels}"
    return identity


def array_digest(array: np.ndarray) -> str:
    """Every byte of an array (a photo), its shape and type: Streamlit's own hash samples big arrays."""
    return hashlib.sha1(np.ascontiguousarray(array).tobytes() + f"{array.shape}{array.dtype}".encode()).hexdigest()


# for st.cache_data(hash_funcs=...): a loaded model by its identity, an array (a photo) by all its bytes
HASH_FUNCS: dict[str | type, Callable[..., str]] = {MODEL_TYPE: model_identity, "numpy.ndarray": array_digest}


# --- the page header -----------------------------------------------------------------------------

@contextlib.contextmanager
def app_frame(page_name: str = ""):
    """Around ``navigation.run()`` in app.py: the page drawn inside knows that the frame is drawn,
    and its script is short work (predictions, maps, metrics: long runs pause for it) until it
    queues a long run of its own. With VIZCORE_TIMELINE set, the script's events are noted."""
    from vizcore import scheduler
    st.session_state[FRAME_DRAWN] = True
    try:
        with timeline.session(session_owner()[:6]), timeline.span("script", page=page_name or "home"):
            with scheduler.short_work():
                yield
    finally:
        st.session_state.pop(FRAME_DRAWN, None)
        keras_state.keep()  # before Streamlit's clean-up at the end of this run


def page(title: str, caption: str, *, feature_maps: bool = True):
    """Every page's header: its title and caption, then the model picked in the sidebar.

    Returns the model (a ``VizModel``). Stops the page (``st.stop``) after saying why when there
    is none, or, if the page looks at ``feature_maps``, when the model has no layer with them.
    """
    if not st.session_state.get(FRAME_DRAWN):
        _rerun_through_app()
    st.title(title)
    st.caption(caption)
    vm = current_model()
    if vm is None or (feature_maps and not spatial_model(vm)):
        st.stop()
    return vm


def _rerun_through_app() -> None:
    """Draw this page again, through app.py, which draws the frame first.

    A page URL opened first on a fresh server (and every AppTest rerun) executes the page's file
    on its own, in Streamlit's legacy pages/ mode. ``st.navigation`` ends that mode (the pages/
    folder is then ignored, as its documentation says), so the rerun starts at app.py, on this
    page. The pages are listed as that mode lists them (app.py the default), so that this one is
    found by its URL.
    """
    st.navigation([st.Page(APP, default=True)] + [st.Page(path) for path, _, _ in PAGES], position="hidden")
    keras_state.keep()
    st.rerun()


# --- the model picker ----------------------------------------------------------------------------

def _model_title(choice: str) -> str:
    if choice == UPLOAD_MODEL:
        return choice
    if choice.startswith(FOLDER):
        return f"{choice[len(FOLDER):]} {FOLDER_MARK}"
    spec = MODELS[choice]
    return spec.title if spec.status == BUNDLED else f"{spec.title} ({spec.status})"


def model_choices() -> list[str]:
    """Registry names, then ``folder:NAME`` for each file of the models folder, then the upload."""
    return list(MODELS) + [FOLDER + name for name in folder_models()] + [UPLOAD_MODEL]


def model_picker() -> None:
    """Sidebar: choose a model (a link's ``model`` first); load it (with a clear error) into session_state['model']."""
    choices = model_choices()
    links.linked("model", "model_name", model_from_link, DEFAULT_MODEL, title=_model_title)
    with st.sidebar:
        choice = st.selectbox("Model", choices, index=choices.index(DEFAULT_MODEL), key="model_name",
                              format_func=_model_title,
                              help="The EfficientNet-Lites are bundled and work offline; the keras.applications "
                                   "models download their weights once. Your own .keras or .h5 files: put them in "
                                   f"{models_dir()} (big files never pass through the browser) or upload one.")
        links.share_across_pages(model=model_in_link(choice))
        st.session_state["model"], st.session_state["model_error"] = None, None
        try:
            if choice == UPLOAD_MODEL:
                vm = _uploaded_model_sidebar()
            elif choice.startswith(FOLDER):
                vm = _folder_model_sidebar(choice[len(FOLDER):])
            else:
                vm = cached_model(choice)
        except vizcore.VizcoreError as error:
            st.session_state["model_error"] = str(error)
            return
        except Exception as error:  # a user's file can fail inside Keras in ways no one foresaw
            st.session_state["model_error"] = f"This model could not be opened: {type(error).__name__}: {error}"
            return
        st.session_state["model"] = vm
        if vm is not None:
            warm_model(vm)
            st.caption(model_summary(vm))


def model_from_link(text: str) -> str:
    """The picker's choice for a link's ``model``: a registry name, or a models-folder file's name
    (``folder:NAME`` too); ValueError if it is neither."""
    if text in MODELS:
        return text
    name = text.removeprefix(FOLDER)
    if name in folder_models():
        return FOLDER + name
    raise ValueError(f"is neither a model vizcore knows nor a file in your models folder ({models_dir()})")


def model_in_link(choice: str) -> str | None:
    """A picker's choice as a link's ``model``: its name (``folder:NAME`` only where a registry model has
    that name); None for an upload, which a link cannot carry."""
    if choice == UPLOAD_MODEL:
        return None
    name = choice.removeprefix(FOLDER)
    return choice if name in MODELS else name


def model_summary(vm) -> str:
    """One line: name, input, colour, output kind and classes."""
    from vizcore.heads import KIND_TITLES
    size = f"{vm.input_size[0]}×{vm.input_size[1]}" if vm.fixed_size else f"any size (shown at {vm.input_size[0]} px)"
    parts = [vm.name, f"input {size}" + (" grey" if vm.channels == 1 else "")]
    if vm.head is not None:
        parts.append(KIND_TITLES[vm.head.kind])
        noun = "output" if vm.head.kind == "regression" else "class"
        parts.append(f"{vm.classes} {noun}{'' if vm.classes == 1 else ('es' if noun == 'class' else 's')}")
    return " · ".join(parts)


def _folder_model_sidebar(name: str):
    """A models-folder file: its settings, remembered beside it when changed."""
    from vizcore.user_models import LABELS_SUFFIX, SETTINGS_SUFFIX
    path = folder_models().get(name)
    if path is None:
        raise vizcore.ModelError(f"{name} is no longer in your models folder ({models_dir()}).")
    pickers = st.container()  # drawn above the class-names upload, filled once the model is loaded
    labels = _labels_upload()
    companions = "|".join(_file_identity(path.with_name(path.stem + suffix))
                          for suffix in (LABELS_SUFFIX, SETTINGS_SUFFIX))
    with pickers:
        return _user_model_settings(str(path), _file_identity(path), companions, name, labels, remember_at=path)


def _uploaded_model_sidebar():
    upload = st.file_uploader("Model file (.keras or .h5)", type=[suffix.lstrip(".") for suffix in MODEL_SUFFIXES],
                              key="model_upload",
                              help="Loaded with Keras' safe mode: a model with Python Lambda code is refused. "
                                   "Big files load faster from your models folder: " + str(models_dir()))
    pickers = st.container()
    labels = _labels_upload()
    if upload is None:
        pickers.info("Upload a .keras or .h5 model file.")
        return None
    suffix = Path(upload.name).suffix.lower()
    if suffix not in MODEL_SUFFIXES:
        raise vizcore.ModelError(f"{upload.name}: vizcore opens Keras models saved as .keras (or legacy .h5).")
    with pickers:
        with st.spinner("Reading your model file…"):
            path, digest = _stored_upload(upload, suffix)
        return _user_model_settings(str(path), digest, "", Path(upload.name).stem, labels)


def _labels_upload() -> str | None:
    """The optional class-names file, stored like a model upload; its path or None."""
    labels = st.file_uploader("Class names (.txt, one per line, optional)", type=["txt"], key="labels_upload",
                              max_upload_size=LABELS_MB,
                              help="Binary: the positive class alone, or the negative then the positive one.")
    if labels is None:
        return None
    return str(_stored_upload(labels, ".labels.txt")[0])


def _user_model_settings(path: str, identity: str, companions: str, name: str, labels_path: str | None,
                         remember_at: Path | None = None):
    """Load a user's model with the settings picked so far, then draw the pickers for them.

    The first load takes the remembered (or suggested) settings and the pickers start there; a
    picker left at that first choice keeps asking for it as None, so the model is not loaded twice.

    Args:
        identity: the file's content (digest, or path, size and time); companions: its labels and
            settings files' (a change reloads it); remember_at: a folder model's file, to save choices beside.
    """
    prefix = "model_" + hashlib.sha1(identity.encode()).hexdigest()[:12]
    keys = {field: f"{prefix}_{field}" for field in ("scaling", "head", "output")}
    first = st.session_state.get(f"{prefix}_first")  # what the first load picked, and the outputs' names
    chosen = {field: st.session_state.get(key) for field, key in keys.items()}
    if first:
        chosen = {field: None if value == first[field] else value for field, value in chosen.items()}
    vm, error = None, None
    try:
        vm = cached_user_model(path, identity, companions, name, chosen["scaling"],
                               None if chosen["head"] == AUTOMATIC else chosen["head"], chosen["output"], labels_path)
    except vizcore.VizcoreError as problem:
        error = str(problem)
    except Exception as problem:  # a user's file can fail inside Keras in ways no one foresaw
        error = f"{name} could not be opened: {type(problem).__name__}: {problem}"
    if first is None:
        if vm is None:
            raise vizcore.ModelError(error)
        first = st.session_state[f"{prefix}_first"] = _first_settings(vm)
    _settings_pickers(vm, first, keys, remember_at)
    if vm is None:  # a setting the model cannot take: the pickers stay, to change it back
        raise vizcore.ModelError(error)
    return vm


def _first_settings(vm) -> dict:
    return {"scaling": {internal: word for word, internal in USER_SCALINGS.items()}[vm.scaling],
            "head": vm.head_kind or AUTOMATIC, "output": vm.output_index, "outputs": vm.output_titles()}


def _settings_pickers(vm, first: dict, keys: dict, remember_at: Path | None) -> None:
    """Scaling, output kind and (several outputs) output pickers, starting at the first load's choices."""
    from vizcore import heads
    remember = dict(on_change=_remember, args=(remember_at, keys)) if remember_at else {}
    words = list(USER_SCALINGS)
    st.selectbox("Input scaling", words, index=words.index(first["scaling"]), key=keys["scaling"],
                 format_func=SCALING_WORDS.get, **remember,
                 help="How the model expects its pixels, as in its training: 0…1, −1…1, caffe (BGR minus the "
                      "ImageNet mean), torch (0…1, ImageNet mean and std) or raw 0–255.")
    if vm is not None and vm.scaling_note:
        st.caption(vm.scaling_note)
    detected = vm.detected_kind if vm is not None else None
    kinds = [AUTOMATIC, *heads.KINDS]
    st.selectbox("Output kind", kinds, index=kinds.index(first["head"]), key=keys["head"], **remember,
                 format_func=lambda kind: heads.KIND_TITLES.get(kind) or (
                     f"automatic ({detected})" if detected else "automatic"),
                 help="What the output means. Automatic reads it off the last layer's activation and width: "
                      + "; ".join(heads.KIND_TITLES.values()) + ".")
    if len(first["outputs"]) > 1:
        st.selectbox("Output", range(len(first["outputs"])), index=first["output"], key=keys["output"], **remember,
                     format_func=first["outputs"].__getitem__,
                     help="This model has several outputs: pick the one to predict and explain.")


def _remember(path: Path, keys: dict) -> None:
    """Save a folder model's settings beside it, so it opens the same way next time."""
    from vizcore import user_models
    output = st.session_state.get(keys["output"])
    head = st.session_state.get(keys["head"])
    if head == AUTOMATIC:
        head = ""  # forget a kind forced before
    user_models.remember(path, scaling=st.session_state.get(keys["scaling"]), head=head, output=output)


def current_model():
    """The model picked in the sidebar, or None after showing why there is none."""
    error = st.session_state.get("model_error")
    if error:
        st.error(error)
        return None
    vm = st.session_state.get("model")
    if vm is None:
        st.info("Upload a .keras or .h5 model in the sidebar to begin.")
    return vm


def spatial_model(vm) -> bool:
    """True if ``vm`` has layers with feature maps; else show why the page has nothing to do."""
    from vizcore.models import no_spatial_layer_message
    if vm.conv_layers():
        return True
    st.error(no_spatial_layer_message(vm))
    return False


def starting(key: str, default):
    """``key``, with its widget's default put into session state unless a link or the user set a value.
    Widgets a link (or a callback) can set take their defaults only so: Streamlit logs a warning for a
    widget given a default when its value was also set through session state."""
    st.session_state.setdefault(key, default)
    return key


def layer_title(name: str) -> str:
    """A layer path, readable in a narrow picker: its own name first, then the models it sits in."""
    parent, _, leaf = name.rpartition("/")
    return f"{leaf} · in {parent}" if parent else leaf


def short_layer_names(names: list[str]) -> dict[str, str]:
    """{path: its own name if no other layer has it, else the path}: short chips in a multiselect."""
    leaves = [name.rpartition("/")[2] for name in names]
    return {name: leaf if leaves.count(leaf) == 1 else name for name, leaf in zip(names, leaves)}


# --- predictions ---------------------------------------------------------------------------------

def predictions(vm, image, top: int = 5) -> list:
    """``vm.predict`` as Prediction tuples, or [] after an st.error."""
    try:
        with timeline.span("predictions"):
            return vm.predict(image, top=top)
    except vizcore.VizcoreError as error:
        st.error(str(error))
        return []


def predictions_note(vm) -> str:
    """What the numbers mean for this model's head, in one line."""
    kind = vm.head.kind if vm.head else None
    return {
        "binary": "One sigmoid unit: the probability of the positive class; the negative class gets the rest.",
        "multilabel": "Independent probabilities, one sigmoid per label: they need not sum to 100 %.",
        "regression": "Values the model outputs (not probabilities).",
        "logits": "The model outputs logits; shown through a softmax.",
    }.get(kind, "")


def show_values(values: list, max_metrics: int = 4) -> None:
    """A regression model's outputs as values: big numbers, or a table when there are more than ``max_metrics``."""
    if len(values) <= max_metrics:
        for column, value in zip(st.columns(max(len(values), 1)), values):
            column.metric(value.label, f"{value.value:.4g}")
    else:
        st.dataframe([{"output": v.label, "index": v.index, "value": v.value} for v in values],
                     hide_index=True, width="stretch")


def predictions_table(vm, image, top: int = 5) -> list[dict]:
    """Rows for a table: class, index and probability (or value for a regression output)."""
    rows = []
    for p in predictions(vm, image, top):
        row = {"class": p.label, "index": p.index}
        row["probability" if p.probability is not None else "value"] = round(p.value, 4)
        rows.append(row)
    return rows


# --- runs: Run buttons and streams ----------------------------------------------------------------

def run_button(place, label: str, key: str, **options) -> bool:
    """A button that starts a run; True in the rerun that its click started.

    Its callback sets a flag in the session, read and cleared here, so a click survives a rerun
    that comes before the page draws the button (a plain button's True would be lost).

    Args:
        place: where to draw it (``st``, a column, a container); options: ``st.button``'s.
    """
    requested = f"{key}_requested"
    place.button(label, key=key, on_click=_set_flag, args=(requested,), **options)
    return st.session_state.pop(requested, False)


def run_and_stop_buttons(run_key: str, stop_key: str, stop_help: str, *, in_columns: bool = False,
                         disabled: bool = False, run_help: str | None = None) -> bool:
    """Run and Stop side by side; True in the rerun that a click on Run started.

    Stop needs no code: its click reruns the script, which interrupts a stream, and the page then
    draws the frame the stream had reached.

    Args:
        in_columns: the two buttons in two equal columns, each as wide as its column.
    """
    run_place, stop_place = st.columns(2) if in_columns else [st.container(horizontal=True)] * 2
    width: Literal["stretch", "content"] = "stretch" if in_columns else "content"
    requested = run_button(run_place, "Run", run_key, type="primary", icon=":material/play_arrow:", width=width,
                           disabled=disabled, help=run_help)
    stop_place.button("Stop", icon=":material/stop:", key=stop_key, width=width, help=stop_help)
    return requested


def _set_flag(key: str) -> None:
    st.session_state[key] = True


def stream(frames: Iterable[Frame], keep: Callable[[Frame], None], draw: Callable[[Frame], None],
           seconds: float = REDRAW_SECONDS, *, close: bool = True) -> None:
    """Keep every frame of a run; draw one at most every ``seconds``, and always the last.

    ``keep`` stores the frame (in the session, so that Stop leaves it behind) and may update cheap
    widgets; ``draw`` redraws the costly ones (images), so a fast loop never waits on the browser.
    The frames' generator is closed however the loop ends (Stop, a closed tab), so its run ends too;
    with ``close=False`` an interrupted generator is left as it is, for the next script run to go on
    with (a run tweaked live: the page keeps it in session_state and ends it itself).
    """
    drawn_at, undrawn = float("-inf"), None
    running = iter(frames)
    try:
        for frame in running:
            keep(frame)
            undrawn = frame
            if time.perf_counter() - drawn_at >= seconds:
                draw(frame)
                drawn_at, undrawn = time.perf_counter(), None
    finally:
        end = getattr(running, "close", None) if close else None  # a generator: its run ends here (Stop)
        if end is not None:
            end()
    if undrawn is not None:
        draw(undrawn)


# --- sharing the server: long runs take turns, short work goes first ------------------------------

@st.cache_resource(show_spinner=False)
def server_limits():
    """The limits of this server (``vizcore.limits``), read once per process; the run queue sized by them."""
    from vizcore import limits, scheduler
    try:
        chosen, problem = limits.read(), None
    except vizcore.RequestError as error:
        chosen, problem = limits.Limits(), f"{error} The default limits apply."
    scheduler.configure(chosen.runs_at_once, chosen.queue_length)
    return chosen, problem


def limits():
    """This server's limits (``vizcore.limits.Limits``)."""
    return server_limits()[0]


def limits_problem() -> None:
    """In the sidebar, under the model picker: what is wrong with the limits file, if anything."""
    problem = server_limits()[1]
    if problem:
        st.sidebar.error(problem)


def in_turn(page_name: str, work: Callable[[], Result], place=None) -> Result | None:
    """Run ``work`` (a long run: a grid, a dream, a ranking) in its turn of the server's run queue.

    While it waits, ``place`` (default: a placeholder here) tells the user how many runs are ahead
    (redrawn when that changes and every WAIT_REDRAW_SECONDS, which lets Stop and other widgets
    interrupt the wait). One run
    per user and page: a new one replaces the old. A closed tab ends the run at its next drawn
    frame or redrawn place: Streamlit stops a disconnected session's script at its next ``st`` call.
    Returns what ``work`` returned; None after an st.error for a full queue, or when the run was
    cancelled.
    """
    from vizcore import scheduler
    server_limits()
    place = place if place is not None else st.empty()
    shown = {"ahead": None, "at": 0.0}

    def waiting(ahead: int) -> None:
        if ahead == shown["ahead"] and time.monotonic() - shown["at"] < WAIT_REDRAW_SECONDS:
            return  # a class of waiting users costs the server and their browsers little
        shown.update(ahead=ahead, at=time.monotonic())
        runs = "run is" if ahead == 1 else "runs are"
        place.info(f":material/hourglass_top: Waiting for your turn: {ahead} {runs} ahead of you. It starts on "
                   "its own; Stop leaves the line.")

    try:
        with scheduler.process_queue().turn(session_owner(), page_name, on_wait=waiting):
            place.empty()
            return work()
    except scheduler.QueueFull as error:
        place.empty()
        st.error(str(error))  # here, not in the placeholder, which the page may fill again
    except scheduler.Cancelled:
        pass
    return None


def session_owner() -> str:
    """Who a run belongs to in the queue: this browser session (an id kept in its session_state)."""
    return st.session_state.setdefault(OWNER, uuid.uuid4().hex)


# --- a head start: compiled steps traced in the background ---------------------------------------

@st.cache_resource(show_spinner=False, max_entries=64, hash_funcs=HASH_FUNCS)
def warm_up(vm, layer: str, mode: str) -> threading.Thread:
    """Trace a layer's compiled filter steps in the background, once per process, while the user sets up."""
    thread = threading.Thread(target=_prepare_quietly, args=(vm, layer, mode), daemon=False,  # joined at exit
                              name=f"vizcore-prepare-{layer}-{mode}")
    thread.start()
    return thread


_WARMED: weakref.WeakSet = weakref.WeakSet()  # models whose warm-up has started in this process
_WARMING = threading.Lock()


def warm_model(vm) -> threading.Thread | None:
    """Once per loaded model and process, in the background: a first prediction and the compiled passes
    of a map on the default layer and of its trust scores (``vizcore.cam.prepare``), as short work (long
    runs give way to it). A page opened on the model, the first of a class or one opened while long
    runs go on, then waits on none of them. Returns the thread, or None if the model was warmed already."""
    with _WARMING:
        if vm in _WARMED:
            return None
        _WARMED.add(vm)
    thread = threading.Thread(target=_warm_quietly, args=(vm,), daemon=False, name=f"vizcore-warm-{vm.name}")
    thread.start()
    return thread


def _warm_quietly(vm) -> None:
    from vizcore import cam, scheduler
    try:
        with scheduler.short_work(), timeline.span("warming the model up", model=vm.name):
            if vm.is_classifier:
                vm.predict(np.zeros((*vm.input_size, 3), np.uint8), top=1)
                if cam.spatial_layers(vm):
                    cam.prepare(vm)
    except Exception:  # only a head start: the page itself reports any problem
        pass


def _prepare_quietly(vm, layer: str, mode: str) -> None:
    from vizcore import filters
    try:
        filters.prepare(vm, layer, mode)
    except Exception:  # only a head start: the run itself reports any problem
        pass

