"""docs/quickstart.md must run as written: its python blocks are executed in order."""
import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "quickstart.md"


def test_quickstart_runs(monkeypatch, tmp_path):
    monkeypatch.chdir(DOC.parents[1])
    monkeypatch.setenv("EVENTSTUDY_CACHE", str(tmp_path / "cache"))
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) >= 8
    namespace: dict = {}
    for i, block in enumerate(blocks, start=1):
        try:
            exec(compile(block, f"quickstart block {i}", "exec"), namespace)
        except Exception as exc:  # pragma: no cover - the message says which block
            pytest.fail(f"docs/quickstart.md block {i} failed: {exc!r}")
    assert "result" in namespace and len(namespace["result"].car) > 0
