"""The names the README and docs promise, importable from the package faces; `import clinreason` stays light."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import clinreason

PACKAGES = [
    "clinreason",
    "clinreason.records",
    "clinreason.knowledge",
    "clinreason.teacher",
    "clinreason.student",
    "clinreason.evaluate",
    "clinreason.pipeline",
    "clinreason.vision",
]


@pytest.mark.parametrize("package", PACKAGES)
def test_every_exported_name_resolves(package: str) -> None:
    module = importlib.import_module(package)
    assert module.__all__, f"{package} exports nothing"
    for name in module.__all__:
        assert getattr(module, name) is not None, f"{package}.{name}"
    assert set(module.__all__) <= set(dir(module))
    if hasattr(module, "_EXPORTS"):  # a lazy face: every name it can load is exported, the rest is defined
        assert set(module._EXPORTS) <= set(module.__all__)
        assert all(name in vars(module) for name in set(module.__all__) - set(module._EXPORTS))


def test_functions_named_like_their_module_are_the_functions() -> None:
    import clinreason.pipeline.rationalize
    import clinreason.student.predict
    import clinreason.student.train  # noqa: F401  (the submodules are loaded first)
    from clinreason.pipeline import rationalize
    from clinreason.student import predict, train

    for function in (train, predict, rationalize):
        assert not isinstance(function, ModuleType) and callable(function)


def test_the_promised_top_level_names() -> None:
    from clinreason import (  # noqa: F401
        RunConfig,
        SegmentationMetrics,
        diagnosis_metrics,
        load_cohort,
        predict,
        run_pipeline,
        run_teacher,
        train,
    )

    assert run_pipeline.__module__ == "clinreason.pipeline.run"
    assert train.__module__ == "clinreason.student.train" and predict.__module__ == "clinreason.student.predict"
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        clinreason.nope  # noqa: B018


def test_importing_the_package_does_not_load_torch() -> None:
    code = "import sys, clinreason, clinreason.student, clinreason.vision; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_the_readme_python_example_imports_only_from_clinreason() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    section = readme[readme.index("### From Python") :]
    block = re.search(r"```python\n(.*?)```", section, re.S)
    assert block is not None
    imports = [line for line in block.group(1).splitlines() if line.startswith(("import ", "from "))]
    assert imports and all(line.startswith("from clinreason import ") for line in imports), imports
    for line in imports:
        for name in line.removeprefix("from clinreason import ").split(","):
            assert hasattr(clinreason, name.strip()), name
