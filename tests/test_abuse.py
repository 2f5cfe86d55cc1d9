"""Bad input and abuse, through the engine, the CLI and the page: a clear message or a correct
result, never a traceback, memory bounded."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

import vizcore
from abuse_files import cases

ROOT = Path(__file__).resolve().parent.parent
CASES = cases()
IDS = [case.name for case in CASES]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_engine_gives_a_clear_error_or_a_correct_image(case):
    if isinstance(case.expected, str):
        with pytest.raises(vizcore.ImageError, match=case.expected):
            vizcore.load_image(case.data)
    else:
        image = vizcore.load_image(case.data)
        assert image.dtype == np.uint8 and image.shape == (*case.expected, 3)


AS_A_PROCESS = {"truncated JPEG", "CMYK JPEG"}  # one refused, one predicted: nothing else on stderr either


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_cli_gives_one_line_or_predictions(case, tmp_path, capsys):
    """Each file through the CLI's main (two of them as a real process, TensorFlow's start included)."""
    from vizcore import cli
    path = tmp_path / case.filename
    path.write_bytes(case.data)
    argv = ["predict", "efficientnet_lite0", str(path), "--json"]
    if case.name in AS_A_PROCESS:
        result = subprocess.run([sys.executable, "-m", "vizcore", *argv], cwd=ROOT, capture_output=True, text=True,
                                timeout=300)
        returncode, stdout, stderr = result.returncode, result.stdout, result.stderr
    else:
        returncode = cli.main(argv)
        stdout, stderr = capsys.readouterr()
    assert "Traceback" not in stderr
    if isinstance(case.expected, str):
        assert returncode == 2 and stdout == ""
        assert len(stderr.strip().splitlines()) == 1 and case.expected in stderr
    else:
        assert returncode == 0, stderr
        assert len(json.loads(stdout)["predictions"]) == 5


MEMORY_PROBE = """
import resource, sys
sys.path.insert(0, "tests")
import vizcore
from abuse_files import cases
case = {c.name: c for c in cases()}[sys.argv[1]]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    vizcore.load_image(case.data)
except vizcore.ImageError:
    pass
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
"""


@pytest.mark.parametrize("name, limit_mb", [("PNG decompression bomb", 50), ("6000×4000 JPEG", 400)])
def test_memory_stays_bounded(name, limit_mb):
    """Peak RSS growth while decoding (the 6000×4000 RGB would be 72 MB; the bomb 1.6 GB)."""
    result = subprocess.run([sys.executable, "-c", MEMORY_PROBE, name], cwd=ROOT, capture_output=True,
                            text=True, timeout=120, check=True)
    assert int(result.stdout.strip()) < limit_mb


def _model_file(tmp_path, name, outputs_fn, input_shape=(16, 16, 3)):
    inputs = keras.Input(input_shape)
    model = keras.Model(inputs, outputs_fn(inputs))
    path = tmp_path / name
    model.save(path)
    return path


# A Lambda payload: creates the file named by $PWNED whenever the layer is called. It must be a
# real lambda: Keras stores a lambda's bytecode in the file (a named function only by its name).
_leave_marker = lambda t: (open(__import__("os").environ.get("PWNED", "/dev/null"), "a").close(), t)[1]  # noqa: E731


def test_lambda_model_is_refused_and_its_code_never_runs(tmp_path, monkeypatch):
    path = _model_file(tmp_path, "lambda.keras",
                       lambda x: keras.layers.Lambda(_leave_marker)(keras.layers.Conv2D(2, 3)(x)))
    env = {**os.environ, "PWNED": str(tmp_path / "pwned-by-vizcore")}
    result = subprocess.run([sys.executable, "-m", "vizcore", "layers", str(path)], cwd=ROOT, capture_output=True,
                            text=True, timeout=300, env=env)
    assert result.returncode == 2 and "Lambda" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "pwned-by-vizcore").exists()
    # The payload is live: an unsafe load does run it (here, in the test's process: it only leaves a
    # marker). vizcore's refusal is what kept it from running.
    monkeypatch.setenv("PWNED", str(tmp_path / "pwned-unsafe"))
    keras.saving.load_model(path, safe_mode=False)(keras.ops.zeros((1, 16, 16, 3)))
    assert (tmp_path / "pwned-unsafe").exists()


def test_truncated_keras_file(tmp_path):
    path = _model_file(tmp_path, "ok.keras", lambda x: keras.layers.Conv2D(2, 3)(x))
    cut = tmp_path / "cut.keras"
    cut.write_bytes(path.read_bytes()[:200])
    with pytest.raises(vizcore.ModelError, match="cut.keras"):
        vizcore.load_model(cut)


def test_keras_file_that_is_not_a_classifier(tmp_path):
    path = _model_file(tmp_path, "segmenter.keras", lambda x: keras.layers.Conv2D(2, 3, padding="same")(x))
    vm = vizcore.load_model(path)  # usable for filters and dreams ...
    with pytest.raises(vizcore.ModelError, match="does not output a class vector"):
        vm.predict(np.zeros((16, 16, 3), np.uint8))  # ... but it cannot classify


def test_text_file_named_keras(tmp_path):
    path = tmp_path / "fake.keras"
    path.write_text("not a model")
    with pytest.raises(vizcore.ModelError, match="not a .keras model file"):
        vizcore.load_model(path)
