"""tigerseal_sql's modules import without cycles, and the ORM events are installed explicitly.

The ORM events used to be registered as a side effect of ``import tigerseal_sql.types`` (which
imported ``orm`` at its bottom, while ``orm`` imported ``types``, and ``blind_index`` imported
``orm``). Now importing registers nothing; ``tigerseal_sql.install()`` does, and constructing an
``Encrypted*`` column type calls it, so models that declare encrypted columns keep working.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import tigerseal_sql

PKG = Path(tigerseal_sql.__file__).parent


def _module_level_imports(path: Path) -> set[str]:
    """tigerseal_sql modules imported when ``path`` is imported (not under TYPE_CHECKING)."""
    found: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        for sub in ast.walk(node):
            if isinstance(sub, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                break
            if isinstance(sub, ast.ImportFrom) and sub.module:
                if sub.module == "tigerseal_sql":
                    found |= {f"tigerseal_sql.{a.name}" for a in sub.names}
                elif sub.module.startswith("tigerseal_sql."):
                    found.add(sub.module)
            elif isinstance(sub, ast.Import):
                found |= {a.name for a in sub.names if a.name.startswith("tigerseal_sql.")}
    return found


def test_module_import_graph_is_acyclic() -> None:
    graph = {
        f"tigerseal_sql.{p.stem}": _module_level_imports(p)
        for p in PKG.glob("*.py")
        if p.stem != "__init__"
    }

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, f"import cycle: {' -> '.join((*path, name))}"
        for dep in sorted(graph.get(name, ())):
            visit(dep, (*path, name))

    for name in graph:
        visit(name, ())


def _run(code: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return out.stdout.strip()


def test_importing_the_types_registers_no_orm_events() -> None:
    code = (
        "import sys\n"
        "import tigerseal_sql.types, tigerseal_sql.blind_index\n"
        "print('tigerseal_sql.orm' in sys.modules)\n"
    )
    assert _run(code) == "False"


def test_declaring_an_encrypted_column_installs_the_events_once() -> None:
    code = (
        "from sqlalchemy import event\n"
        "from sqlalchemy.orm import Mapper, Session\n"
        "from tigerseal_sql import EncryptedString, install\n"
        "from tigerseal_sql import orm\n"
        "before = event.contains(Mapper, 'mapper_configured', orm._instrument)\n"
        "EncryptedString(); EncryptedString(storage='text'); install()\n"
        "print(before, event.contains(Mapper, 'mapper_configured', orm._instrument),\n"
        "      event.contains(Session, 'after_soft_rollback', orm._after_rollback))\n"
    )
    assert _run(code) == "False True True"


def test_install_is_public_and_idempotent() -> None:
    from sqlalchemy import event
    from sqlalchemy.orm import Mapper
    from tigerseal_sql import orm

    tigerseal_sql.install()
    tigerseal_sql.install()
    assert tigerseal_sql.install is orm.install
    assert event.contains(Mapper, "mapper_configured", orm._instrument)
    assert "install" in tigerseal_sql.__all__
