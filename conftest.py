"""Settings for every test and doctest: ``precision="auto"`` means float32 here, whatever the CPU.

On CPUs with bfloat16 units ``"auto"`` picks bf16 autocast; the suite must behave the same on every machine it
runs on, so it pins the automatic choice to float32 (the tests of the choice itself patch it back).
"""

import pytest


@pytest.fixture(autouse=True)
def _auto_precision_is_float32_on_the_cpu(monkeypatch):
    import dnaestim._validation

    monkeypatch.setattr(dnaestim._validation, "cpu_has_bf16", lambda: False)
