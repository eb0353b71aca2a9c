"""The layer rules of STYLE.md, checked on the import statements of every module."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STDLIB = set(sys.stdlib_module_names)


def _imports(package: str) -> dict[Path, set[str]]:
    """Top-level module names imported by each file of a package (dotted for our own packages)."""
    found: dict[Path, set[str]] = {}
    for path in (ROOT / package).rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[path.relative_to(ROOT)] = names
    return found


def _roots(names: set[str]) -> set[str]:
    return {n.split(".")[0] for n in names}


def test_protocol_imports_only_the_standard_library_and_msgspec() -> None:
    for path, names in _imports("protocol").items():
        extra = _roots(names) - STDLIB - {"msgspec", "protocol", "__future__"}
        assert not extra, f"{path} imports {extra}"


def test_relay_and_server_never_import_each_other() -> None:
    for path, names in _imports("relay").items():
        assert not _roots(names) & {"server", "litestar", "aiosqlite", "uvicorn"}, path
    for path, names in _imports("server").items():
        assert "relay" not in _roots(names), path


def test_agent_host_packages_install_light() -> None:
    """What an agent host installs (relay, the tether command, attach) needs no server package."""
    allowed = STDLIB | {
        "msgspec",
        "websockets",
        "ptyprocess",
        "protocol",
        "relay",
        "tether",
        "attach",
        "__future__",
    }
    for package in ("relay", "tether", "attach"):
        for path, names in _imports(package).items():
            lazy = {"server.cli"} if path.name == "main.py" else set()
            extra = _roots(names - lazy) - allowed
            assert not extra, f"{path} imports {extra}"


def test_http_never_reaches_a_store() -> None:
    for path, names in _imports("server/http").items():
        stores = {n for n in names if n == "server.store" or n.startswith("server.store.")}
        assert not stores, f"{path} imports {stores}: go through server.domain"
        text = (ROOT / path).read_text()
        assert ".store." not in text and "._store" not in text, f"{path} reaches a domain's store"


def _python_packages() -> list[Path]:
    """Every top-level directory of the repository that holds Python source."""
    return sorted(
        path
        for path in ROOT.iterdir()
        if path.is_dir()
        and not path.name.startswith(".")
        and ((path / "__init__.py").exists() or any(path.glob("*.py")))
    )


def test_imports_are_absolute() -> None:
    packages = _python_packages()
    assert {"protocol", "server", "relay", "tests"} <= {p.name for p in packages}
    relative = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for package in packages
        for path in package.rglob("*.py")
        if "node_modules" not in path.parts
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.ImportFrom) and node.level > 0
    ]
    assert not relative, f"relative imports: {relative}"


def test_domain_has_no_litestar_and_no_sql() -> None:
    for path, names in _imports("server/domain").items():
        assert not _roots(names) & {"litestar", "uvicorn", "aiosqlite", "sqlite3"}, path
        text = (ROOT / path).read_text()
        for keyword in ("SELECT ", "INSERT ", "UPDATE ", "DELETE FROM"):
            assert keyword not in text, f"SQL in {path}"


def test_sql_lives_only_in_the_store() -> None:
    for package in ("server", "relay"):
        for path in (ROOT / package).rglob("*.py"):
            rel = path.relative_to(ROOT)
            outbox = rel.parts[0] == "relay" and rel.name.startswith("outbox")  # outbox*.py
            if rel.parts[:2] == ("server", "store") or outbox:
                continue
            if rel.parts[0] == "relay" and rel.name.endswith("_store.py"):
                continue
            text = path.read_text()
            for keyword in ("SELECT ", "INSERT INTO", "CREATE TABLE", "DELETE FROM"):
                assert keyword not in text, f"SQL in {rel}"


def test_only_the_cli_modules_read_the_environment() -> None:
    for package in ("server", "relay", "protocol"):
        for path in (ROOT / package).rglob("*.py"):
            rel = path.relative_to(ROOT)
            if rel.name == "cli.py":
                continue
            text = path.read_text()
            assert "os.environ" not in text and "getenv" not in text, f"{rel} reads the environment"


def test_no_catch_all_module_names() -> None:
    for package in ("protocol", "server", "relay", "tether", "attach"):
        for path in (ROOT / package).rglob("*.py"):
            assert path.stem not in {"utils", "helpers", "common", "misc"}, path
