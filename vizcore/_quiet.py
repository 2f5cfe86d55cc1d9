"""Import TensorFlow without its C++ start-up chatter on stderr (absl logs before its flags are read)."""

from __future__ import annotations

import contextlib
import os
import sys


@contextlib.contextmanager
def quiet_stderr():
    """Point file descriptor 2 at /dev/null for the duration; Python exceptions still propagate."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real stderr (some test runners): nothing to silence
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


# TensorFlow's C++ warnings later on (e.g. grappler's "Error in PredictCost()" for ops it cannot cost,
# as MaCo's crop_and_resize) are not for our users: errors only, unless the user asked for more
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

with quiet_stderr():
    import keras  # noqa: F401
    import tensorflow  # noqa: F401
