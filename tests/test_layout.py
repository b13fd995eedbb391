"""The package's layers import one way only (import-linter contract in pyproject.toml), and no two
modules share a name."""
import collections
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_layers_import_one_way():
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    if exe is None:
        pytest.fail("import-linter is not installed; `pip install -r requirements.txt`")
    out = subprocess.run([exe, "--config", str(ROOT / "pyproject.toml")], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0 and "1 kept, 0 broken" in out.stdout, out.stdout + out.stderr


def test_module_names_are_unique():
    names = collections.Counter(p.stem for p in (ROOT / "critnotes").rglob("*.py") if p.stem != "__init__")
    assert not [n for n, k in names.items() if k > 1 and n != "__main__"]
