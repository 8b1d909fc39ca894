"""Module examples are true: the `>>>` examples in these modules' docstrings run as written.

A newcomer copies a module's example first; one that raises (as the training loop's once did) costs more than none.
List a module here when its docstring gains an example that is cheap to run.
"""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES_WITH_EXAMPLES = ["engine.training.loop"]


@pytest.mark.parametrize("name", MODULES_WITH_EXAMPLES)
def test_module_examples_run_as_written(name):
    module = importlib.import_module(name)
    outcome = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert outcome.attempted > 0, f"{name} lists no example to run; remove it from MODULES_WITH_EXAMPLES"
    assert outcome.failed == 0, f"{outcome.failed} example(s) of {name} fail (see the doctest report above)"
