"""Inside the core, accounts layer like this: auth may import users, never the other way,
and neither reaches the library's content domains."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONTENT = '"backend.collections", "backend.documents", "backend.search", "backend.browse", '
CONTENT += '"backend.ingest", "backend.api"'
CONTRACTS = f"""
[tool.importlinter]
root_packages = ["backend"]

[[tool.importlinter.contracts]]
name = "users never import auth nor the content domains"
type = "forbidden"
source_modules = ["backend.users"]
forbidden_modules = ["backend.auth", {CONTENT}]

[[tool.importlinter.contracts]]
name = "auth imports no content domain"
type = "forbidden"
source_modules = ["backend.auth"]
forbidden_modules = [{CONTENT}]
"""


def test_account_packages_keep_their_layers(tmp_path: Path) -> None:
    config = tmp_path / "layers.toml"
    config.write_text(CONTRACTS)
    lint = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(lint), "--config", str(config)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 2 kept, 0 broken." in result.stdout
