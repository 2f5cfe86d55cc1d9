"""Errors the engine raises for users: each message says what went wrong in plain words."""


class VizcoreError(Exception):
    """Base class: a problem with what the user asked for, shown to them as one line."""


class ImageError(VizcoreError, ValueError):
    """An image the user gave cannot be used."""


class ModelError(VizcoreError):
    """A model cannot be loaded or does not fit the request."""


class RequestError(VizcoreError, ValueError):
    """Parameters out of range: unknown layer, bad filter index, steps <= 0, ..."""


class ImageArgumentError(ImageError, RequestError):
    """An image passed to the engine is not RGB uint8: both an image and a request problem."""
