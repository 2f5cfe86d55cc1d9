"""The CLI as a user runs it: a real subprocess, exit codes, JSON on stdout, one line on stderr.

``predict`` runs as ``python -m vizcore`` itself; the other commands run in ONE more interpreter, each
through ``vizcore.cli.main`` as ``python -m vizcore`` runs it (own_models.run_cli): TensorFlow is
imported twice, not nine times."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from own_models import run_cli

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "assets" / "samples"
BAD_INPUT = [
    (["predict", "efficientnet_lite0", "pytest.ini"], "not an image"),
    (["predict", "efficientnet_lite0", "missing.png"], "No image file"),
    (["predict", "nope", "assets/samples/cat.jpg"], "Unknown model 'nope'"),
    (["layers", "vgg16"], "Could not download the ImageNet weights for VGG16"),
    (["predict", "efficientnet_lite0", "assets/samples/cat.jpg", "--top", "0"], "top must be at least 1"),
    (["predict"], "the following arguments are required"),
]


def vizcore(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vizcore", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ})


@pytest.fixture(scope="module")
def runs() -> dict[str, subprocess.CompletedProcess]:
    """Every command of this module but ``predict``, run in one interpreter, in order."""
    commands = {"layers": ["layers", "efficientnet_lite0", "--json"], "models": ["models", "--json"]}
    commands.update({f"bad {number}": args for number, (args, _) in enumerate(BAD_INPUT)})
    return run_cli(commands)


def assert_one_line_error(result: subprocess.CompletedProcess, words: str):
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0] and "Traceback" not in result.stderr, result.stderr
    assert result.stdout == ""


def test_predict_json():
    result = vizcore("predict", "efficientnet_lite0", str(SAMPLES / "grace_hopper.jpg"), "--json", "--top", "3")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["model"] == "efficientnet_lite0" and len(payload["predictions"]) == 3
    first = payload["predictions"][0]
    assert first["index"] == 652 and first["label"] == "military uniform" and abs(first["probability"] - 0.46) < 0.02


def test_layers_json(runs):
    result = runs["layers"]
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["model"] == "efficientnet_lite0"
    top_conv = [layer for layer in payload["layers"] if layer["name"] == "top_conv"]
    assert top_conv and {k: top_conv[0][k] for k in ("channels", "kind")} == {"channels": 1280, "kind": "Conv2D"}
    assert [layer["depth"] for layer in payload["layers"]] == sorted(layer["depth"] for layer in payload["layers"])


def test_models_json_lists_offline_status(runs):
    payload = json.loads(runs["models"].stdout)
    status = {row["name"]: row["status"] for row in payload["models"]}
    assert status["efficientnet_lite0"] == "bundled" and "vgg16" in status


@pytest.mark.parametrize("number, words", [(number, words) for number, (_, words) in enumerate(BAD_INPUT)],
                         ids=[" ".join(args) for args, _ in BAD_INPUT])
def test_bad_input_is_one_line(runs, number, words):
    assert_one_line_error(runs[f"bad {number}"], words)
