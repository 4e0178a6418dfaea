"""pytest plugin (entry point ``pytest11``): ``pytest --bodydock-adapter NAME [--bodydock-adapter ...]``.

Without the option the plugin does nothing, so it is safe to have installed in any test run.
With it, the contract tests (``contract.py``) are collected for every named adapter; when no
test paths are given on the command line, only the contract runs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

CONTRACT = Path(__file__).with_name("contract.py")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("bodydock", "bodydock adapter conformance kit")
    group.addoption(
        "--bodydock-adapter",
        action="append",
        default=[],
        metavar="NAME",
        help="run the adapter conformance kit against the installed adapter NAME (repeatable)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "bodydock_contract: a test of the bodydock adapter contract")
    if not config.getoption("bodydock_adapter"):
        return
    if config.args_source is pytest.Config.ArgsSource.ARGS:
        config.args.append(str(CONTRACT))
    else:
        config.args[:] = [str(CONTRACT)]
