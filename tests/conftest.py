"""Shared test fixtures: reference checkpoints and deterministic hypothesis settings."""

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, settings

HERE = Path(__file__).parent
BUNDLED_REFERENCES = HERE / "fixtures" / "hyenadna_reference"

settings.register_profile(
    "dnaestim", derandomize=True, deadline=None, max_examples=40,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("dnaestim")
#: Threads per test process: under pytest-xdist (``make test`` runs ``-n auto``) the workers share the cores, and
#: more threads than cores make torch's thread pool spin against itself (a test took 5x longer so).
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
THREADS = max(1, min(2, torch.get_num_threads()) // _WORKERS)
torch.set_num_threads(THREADS)


def pytest_collection_modifyitems(items):
    """Start the slowest test first: the documentation build (minutes, mostly time-budgeted gallery examples) then
    runs alongside the rest of the suite instead of after it."""
    items.sort(key=lambda item: item.get_closest_marker("slowest_first") is None)


def reference_dirs():
    """Reference folders: the bundled ones plus any under $DNAESTIM_REFERENCE_FIXTURES (os.pathsep-separated).

    A reference folder holds config.json, a weight file, input_ids.npy, hidden_states.npy and lm_logits.npy.
    Each entry of the variable may be such a folder or a folder of such folders.
    """
    roots = [BUNDLED_REFERENCES] + [Path(p) for p in os.environ.get("DNAESTIM_REFERENCE_FIXTURES", "").split(os.pathsep) if p]
    found = []
    for root in roots:
        candidates = [root] + sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
        found.extend(c for c in candidates if (c / "hidden_states.npy").is_file())
    return found


REFERENCE_DIRS = reference_dirs()


@pytest.fixture(params=REFERENCE_DIRS, ids=[p.name for p in REFERENCE_DIRS])
def reference(request):
    """One reference folder with its inputs and expected outputs loaded."""
    folder = request.param
    return {
        "dir": folder,
        "input_ids": torch.from_numpy(np.load(folder / "input_ids.npy")),
        "hidden_states": np.load(folder / "hidden_states.npy"),
        "lm_logits": np.load(folder / "lm_logits.npy"),
    }


@pytest.fixture
def tiny_reference_dir():
    return BUNDLED_REFERENCES / "tiny-1k"


def relative_error(actual, expected):
    """Largest per-sequence relative error ||a - e|| / ||e||."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    return max(
        np.linalg.norm(a - e) / np.linalg.norm(e) for a, e in zip(actual, expected)
    )


#: scikit-learn estimator checks that need no data (our estimators take DNA strings, not numeric arrays).
DATA_FREE_CHECKS = [
    "check_no_attributes_set_in_init",
    "check_parameters_default_constructible",
    "check_get_params_invariance",
    "check_set_params",
    "check_estimator_cloneable",
    "check_estimator_repr",
    "check_estimator_tags_renamed",
    "check_valid_tag_types",
    "check_mixin_order",
    "check_do_not_raise_errors_in_init_or_set_params",
]
