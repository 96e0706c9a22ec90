"""The import arrows of the design: app -> state -> backend, jobs -> backend, nothing -> app."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_hold() -> None:
    lint = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(lint), "--config", str(ROOT / "pyproject.toml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 6 kept, 0 broken." in result.stdout


def test_backend_never_imports_reflex_at_runtime() -> None:
    code = (
        "import sys, importlib, pkgutil, backend\n"
        "for m in pkgutil.walk_packages(backend.__path__, 'backend.'):\n"
        "    if 'migrations' in m.name: continue\n"
        "    importlib.import_module(m.name)\n"
        "upper = ('reflex', 'app', 'state', 'components', 'jobs')\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in upper]\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
