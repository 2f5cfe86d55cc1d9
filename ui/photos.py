"""The session's photo: one working photo across every page, uploads kept on the server by digest.

Every page's photo picker (``image_picker(key)``: an Image radio, then a sample selectbox or an
uploader) opens on the session's *working photo*, the sample or upload the user chose last on any
page, and a choice on any page becomes the working photo. Widget state does not outlive a page
(Streamlit drops the state of widgets a run does not draw), so the working photo is kept apart, in
``st.session_state[WORKING]`` with a version number, and each picker's widgets are set from it
when they have no state or when it changed since that picker last saw it.

An upload is taken the moment it arrives, by the uploader's ``on_change`` callback (which runs
before the script, so a rerun that interrupts the page cannot lose it), kept in the server's
``vizcore.photo_store.PhotoStore`` under its digest with the user's file name, and made the
working photo. Pages then read the photo from the store, not from the uploader: an uploader left
empty on another page, or after a quick rerun, still shows the photo, named as the user named it.
A link names an upload by its digest (``photo=upload-3b857802…``), so a copied link reopens it on
the same server while the store keeps it; when it is gone the page says so and shows the rest.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import streamlit as st

import vizcore
from ui import links, runs, uploads
from vizcore.images import MAX_FILE_BYTES
from vizcore.photo_store import PhotoStore, StoredPhoto

SAMPLES_DIR = Path(__file__).resolve().parent.parent / "assets" / "samples"
SAMPLE, UPLOAD, NOISE = links.PHOTO_SOURCES   # the Image radio's choices
DEFAULT_SAMPLE = "grace hopper"
WORKING = "_working_photo"                    # session_state: (version, WorkingPhoto)
UPLOAD_LINK = "upload-"                       # a link's photo that names an upload: upload-<digest's first digits>
PHOTO_MB = MAX_FILE_BYTES // 2**20            # the photo uploader's cap, in MB (the engine's)


@dataclass(frozen=True)
class WorkingPhoto:
    """The photo the session works on: a sample, or an upload (kept in the store)."""
    source: str                        # SAMPLE or UPLOAD
    sample: str = DEFAULT_SAMPLE       # the sample chosen last (shown again when Sample photo is picked)
    upload: StoredPhoto | None = None  # the photo uploaded last, if any


# --- the server's store of uploaded photos --------------------------------------------------------

@st.cache_resource(show_spinner=False)
def store() -> PhotoStore:
    """This server's uploaded photos, bounded by its limits (``kept_photos``, ``kept_photos_mb``)."""
    limits = runs.limits()
    return PhotoStore(uploads.uploads_dir() / "photos", max_photos=limits.kept_photos,
                      max_bytes=limits.kept_photos_mb * 2**20)


@st.cache_data(max_entries=32, show_spinner=False)
def decode_image(data: bytes):
    return vizcore.load_image(data)


def sample_paths() -> dict[str, Path]:
    return {path.stem.replace("_", " "): path for path in sorted(SAMPLES_DIR.glob("*.jpg"))}


# --- the working photo ----------------------------------------------------------------------------

def working() -> tuple[int, WorkingPhoto]:
    """(version, the session's working photo); the default sample until the user picks another."""
    return st.session_state.setdefault(WORKING, (0, WorkingPhoto(SAMPLE)))


def choose(photo: WorkingPhoto, key: str | None = None) -> None:
    """Make ``photo`` the working photo (a new version), as seen by picker ``key`` already."""
    version, current = working()
    if photo != current:
        version += 1
        st.session_state[WORKING] = (version, photo)
    if key is not None:
        st.session_state[f"{key}_seen"] = version


def _follow(key: str) -> None:
    """Set picker ``key``'s widgets from the working photo when they have no state or it changed."""
    version, photo = working()
    if f"{key}_source" in st.session_state and st.session_state.get(f"{key}_seen") == version:
        return
    st.session_state[f"{key}_source"] = photo.source
    st.session_state[f"{key}_sample"] = photo.sample
    st.session_state[f"{key}_seen"] = version


# --- the picker -----------------------------------------------------------------------------------

def image_picker(key: str, *, allow_noise: bool = False):
    """Pick a sample, upload a photo, or (``allow_noise``) start from noise: RGB uint8, None or "noise".

    Opens on a link's photo, else on the session's working photo. Bad uploads show an st.error in
    plain words and return None; the working photo stays what it was.
    """
    _from_link(key, allow_noise)
    _follow(key)
    sources = [SAMPLE, UPLOAD] + ([NOISE] if allow_noise else [])
    if st.session_state.get(f"{key}_source") not in sources:
        st.session_state[f"{key}_source"] = SAMPLE
    source = st.radio("Image", sources, horizontal=True, key=f"{key}_source")
    if source == NOISE:
        return NOISE
    if source == UPLOAD:
        return _uploaded_photo(key)
    samples = sample_paths()
    if st.session_state.get(f"{key}_sample") not in samples:
        st.session_state[f"{key}_sample"] = DEFAULT_SAMPLE if DEFAULT_SAMPLE in samples else next(iter(samples))
    name = st.selectbox("Sample", list(samples), key=f"{key}_sample")
    choose(replace(working()[1], source=SAMPLE, sample=name), key)
    return decode_image(samples[name].read_bytes())


def _uploaded_photo(key: str):
    """The uploader, and the working upload (from the store) under it."""
    upload = st.file_uploader("Photo", type=None, key=f"{key}_upload", max_upload_size=PHOTO_MB,
                              on_change=take_upload, args=(key,),
                              help=f"JPEG, PNG, WebP, GIF, BMP, TIFF… up to {PHOTO_MB} MB. It stays your "
                                   "photo on every page until you pick another.")
    if upload is not None and st.session_state.get(f"{key}_taken") != upload.file_id:
        take_upload(key)  # a file the callback did not see (a test setting the widget, a restored session)
    problem = st.session_state.get(f"{key}_problem")
    if upload is not None and problem:
        st.error(problem)
        return None
    photo = working()[1]
    if photo.upload is None:
        return None
    choose(replace(photo, source=UPLOAD), key)
    stored, data = _kept(photo.upload)
    if stored is None or data is None:
        st.warning(f"{photo.upload.name}, the photo you uploaded earlier, is no longer kept on this server (it keeps "
                   "the most recent uploads). Please upload it again.", icon=":material/hide_image:")
        return None
    if upload is None:
        st.caption(f"Showing **{_markdown_text(photo.upload.name)}**, which you uploaded. Upload another photo to "
                   "replace it.")
    try:
        return decode_image(data)
    except vizcore.ImageError as error:  # the store only keeps photos that decoded; a disk error is still possible
        st.error(f"{photo.upload.name} can't be used: {error}")
        return None


def _kept(upload: StoredPhoto) -> tuple[StoredPhoto | None, bytes | None]:
    """The kept photo and its bytes (looked up again if another session renamed it meanwhile)."""
    for _ in range(2):
        stored = store().find(upload.digest)
        if stored is None:
            return None, None
        try:
            return stored, stored.path.read_bytes()
        except FileNotFoundError:
            continue
    return None, None


def take_upload(key: str) -> None:
    """The uploader's callback: a new upload, once decoded, becomes the working photo and is kept on the
    server; a file that can't be used leaves a problem to show and the working photo as it was."""
    upload = st.session_state.get(f"{key}_upload")
    st.session_state.pop(f"{key}_problem", None)
    if upload is None:  # the user removed the file: the photo stays, named under the uploader
        return
    st.session_state[f"{key}_taken"] = upload.file_id
    if upload.size > MAX_FILE_BYTES:  # refused before its bytes are read
        st.session_state[f"{key}_problem"] = (
            f"{upload.name} can't be used: it is {upload.size / 2**20:.0f} MB; the limit is {PHOTO_MB} MB. "
            "Please upload a smaller image.")
        return
    data = upload.getvalue()
    try:
        decode_image(data)
    except vizcore.ImageError as error:
        st.session_state[f"{key}_problem"] = f"{upload.name} can't be used: {error}"
        return
    stored = store().put(data, upload.name)
    choose(replace(working()[1], source=UPLOAD, upload=stored))


def _markdown_text(text: str) -> str:
    """A user's file name shown in Markdown as written (no emphasis or links made of its characters)."""
    return "".join("\\" + character if character in "\\`*_[]<>|~$" else character for character in text)


# --- links ----------------------------------------------------------------------------------------

def _from_link(key: str, allow_noise: bool) -> None:
    """A link's photo (a sample, an upload this server keeps, or noise) becomes the picker's start."""
    photo = links.from_link("photo", lambda text: _read_photo(text, allow_noise), DEFAULT_SAMPLE,
                            title=lambda name: f"the {name} photo")
    if photo is None:
        return
    if photo == NOISE:
        _follow(key)
        st.session_state[f"{key}_source"] = NOISE
    else:
        choose(photo)


def _read_photo(text: str, allow_noise: bool):
    """A link's ``photo``: NOISE, or the WorkingPhoto it names; ValueError saying why not."""
    samples = {links.photo_text(name): name for name in sample_paths()}
    current = working()[1]
    if allow_noise and text == links.NOISE:
        return NOISE
    if text in samples or text in samples.values():
        return replace(current, source=SAMPLE, sample=samples.get(text, text))
    if text.startswith(UPLOAD_LINK):
        stored = store().find(text[len(UPLOAD_LINK):])
        if stored is None:
            raise ValueError("is an uploaded photo this server no longer keeps (it keeps the most recent uploads)")
        return replace(current, source=UPLOAD, upload=stored)
    choices = list(samples) + ([links.NOISE] if allow_noise else [])
    raise ValueError(f"is not {links.listing(choices)}, nor an uploaded photo ({UPLOAD_LINK}…)")


def in_link(key: str) -> str | None:
    """Picker ``key``'s photo for a link: a sample's name, "noise", or upload-<digest> (None: no photo yet)."""
    source = st.session_state.get(f"{key}_source", SAMPLE)
    photo = working()[1]
    if source == NOISE:
        return links.NOISE
    if source == UPLOAD:
        return UPLOAD_LINK + photo.upload.link_id if photo.upload is not None else None
    return links.photo_text(st.session_state.get(f"{key}_sample") or photo.sample)


def name(key: str) -> str:
    """The photo picker ``key`` shows, as the user knows it: a sample's name or the upload's file name."""
    source = st.session_state.get(f"{key}_source", SAMPLE)
    photo = working()[1]
    if source == UPLOAD and photo.upload is not None:
        return photo.upload.name
    return "noise" if source == NOISE else str(st.session_state.get(f"{key}_sample") or photo.sample)
