"""The regressions page: one table per [[regressions]] entry, drawn from regressions.csv's
frame (nothing recomputed)."""
from __future__ import annotations

import pandas as pd

from eventstudy.report import fmt


def regressions_context(frame: pd.DataFrame) -> dict:
    out = []
    for i, (name, rows) in enumerate(frame.groupby("name", sort=False)):
        first = rows.iloc[0]
        dep = first["dependent"]
        as_pct = dep in ("car", "bhar")      # returns as percent; scar is in standard units

        def value(x):
            return fmt.pct(x, 2) if as_pct else fmt.fixed(x, 3, signed=True)

        cov = {"HC1": "heteroskedasticity-robust (HC1) standard errors",
               "cluster": f"standard errors clustered by {first['cluster']} "
                          f"({int(first['n_clusters'])} clusters)",
               "cluster-2way": "standard errors clustered by event and by security "
                               f"(two-way; {int(first['n_clusters'])} clusters in the "
                               "smaller dimension)"}.get(first["cov_type"], first["cov_type"])
        out.append({
            "anchor": f"reg-{i + 1}", "name": name, "formula": first["formula"],
            "model": fmt.model_name(first["model"]),
            "window": fmt.window(first["window_start"], first["window_end"]),
            "n": fmt.integer(first["n"]), "n_dropped": int(first["n_dropped"]), "cov": cov,
            "r2": fmt.fixed(first["r2"], 3), "weights": fmt.text(first["weights"]),
            "note": fmt.text(first["note"]),
            "rows": [{"term": r.term, "estimate": value(r.estimate), "se": value(r.se).lstrip("+"),
                      "t": fmt.fixed(r.t, 2, signed=True), "p": fmt.pval(r.p),
                      "stars": fmt.stars(r.p),
                      "ci": f"{value(r.ci_low)} to {value(r.ci_high)}"}
                     for r in rows.itertuples(index=False)]})
    return {"regressions": out}
