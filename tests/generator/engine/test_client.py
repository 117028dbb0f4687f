"""Choosing the container engine: docker or podman, and nothing else."""

from __future__ import annotations

import pytest

from generator.engine.client import check_engine
from generator.errors import GeneratorError


def test_an_unknown_engine_is_refused_naming_the_option():
    with pytest.raises(GeneratorError) as caught:
        check_engine("nerdctl")
    assert "nerdctl" in caught.value.message
    assert caught.value.hint == "use --engine docker or --engine podman"
