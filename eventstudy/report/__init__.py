"""Static HTML reports drawn from a `StudyResult`'s frames (nothing is recomputed here).

    build_report(result, Path("reports")) -> [index.html, methods.html, events/<id>.html...,
                                              groups/<group>.html...]

Pages open from file:// with no network: plotly.js is copied once to assets/ and every page
loads it (and assets/report.css, assets/report.js) by relative path. The output is
deterministic: the same result gives the same bytes except the one line holding the
generated-at time (`<p class="generated">`).
"""
from __future__ import annotations

import dataclasses
from datetime import datetime, timezone
from functools import lru_cache
from importlib import resources
from pathlib import Path

from eventstudy import atomic
from eventstudy.report import manifest, methods_doc, pages

__all__ = ["build_report", "Pages", "GENERATED_MARK", "PAGE_FIGURES_META"]

GENERATED_MARK = manifest.GENERATED_MARK      # the one line that differs between builds
PAGE_FIGURES_META = "eventstudy:figures"      # <meta name=... content=N>: figures on a page
GENERATOR = "eventstudy report"
ASSETS = ("report.css", "report.js")


class Pages(list):
    """The pages written by a build; `.unchanged` lists those whose inputs had not changed."""

    def __init__(self, written, unchanged=()):
        super().__init__(written)
        self.unchanged = list(unchanged)


def build_report(result, out_dir: str | Path, *, generated_at: str | None = None,
                 force: bool = False, regressions=None) -> list[Path]:
    """Write index.html, methods.html, one page per event and per group, and assets/.

    `regressions` (eventstudy.regress's tidy frame, when the config has [[regressions]]) adds
    regressions.html and a link to it on every page.

    Returns the HTML pages written (assets not included). A page whose inputs have the same
    hash as in the folder's manifest (MANIFEST) and whose file is still the one recorded there
    (same SHA-256) is not rebuilt, unless `force`. Pages of events or groups that a previous
    build wrote and this result no longer has are removed (only files this generator wrote: they carry its <meta name="generator">).
    """
    out_dir = Path(out_dir)
    if generated_at is None:
        generated_at = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    generated_at = " ".join(str(generated_at).split())   # keep it to one line
    view = pages.View(result)
    _write_assets(out_dir / "assets")

    from eventstudy import __version__
    common = {"generated_at": generated_at, "version": __version__, "config_path":
              result.config.path, "warnings": list(result.warnings), "generator": GENERATOR,
              "group_links": [(gid, view.group_files[gid]) for gid in view.groups],
              "figures_meta": PAGE_FIGURES_META, "returns_kind": result.config.returns}
    has_regressions = regressions is not None and len(regressions) > 0
    if has_regressions:
        common["regressions_link"] = True

    written: list[Path] = []
    kept: list[Path] = []
    old_manifest = {} if force else manifest.read(out_dir)
    new_manifest: dict[str, dict] = {}
    common_key = manifest.digest(common["version"], repr(result.config), common["warnings"],
                                 common["group_links"], manifest.code_digest(),
                                 has_regressions)

    def render(template: str, path: Path, root: str, title: str, context, key: str) -> None:
        name = path.relative_to(out_dir).as_posix()
        old = old_manifest.get(name)
        if manifest.is_current(old, key, path):
            new_manifest[name] = old
            kept.append(path)
            return
        ctx = context()
        charts = [dataclasses.replace(c, id=f"fig-{i}")
                  for i, c in enumerate(ctx.pop("charts", []), start=1)]
        html = _environment().get_template(template).render(
            **common, **ctx, charts=charts, root=root, page_title=title)
        data = html.encode("utf-8")
        atomic.write_bytes(path, data)
        new_manifest[name] = {"key": key, "sha256": manifest.bytes_digest(data)}
        written.append(path)

    keys = manifest.page_keys(result, view, common_key)
    render("index.html", out_dir / "index.html", "", "Overview",
           lambda: pages.index_context(view), keys["index"])
    def methods() -> dict:      # rendered only when the page is rebuilt
        docs = methods_doc.render_docs()
        return pages.methods_context(view, docs[0] if docs else None,
                                     ", ".join(docs[1]) if docs else "")

    render("methods.html", out_dir / "methods.html", "", "Methods", methods,
           manifest.digest(keys["methods"], methods_doc.doc_sources()))
    if has_regressions:
        from eventstudy.report.regressions import regressions_context
        render("regressions.html", out_dir / "regressions.html", "", "Regressions",
               lambda: regressions_context(regressions),
               manifest.digest(common_key, regressions))
    event_view = []          # built on first use: an unchanged event page needs none

    def for_events() -> pages.View:
        if not event_view:
            event_view.append(view.for_event_pages())
        return event_view[0]

    for eid in view.events["event_id"]:
        render("event.html", out_dir / "events" / f"{eid}.html", "../", eid,
               lambda eid=eid: pages.event_context(for_events(), eid), keys[f"event:{eid}"])
    for gid in view.groups:
        render("group.html", out_dir / "groups" / f"{view.group_files[gid]}.html", "../",
               f"group {gid}", lambda gid=gid: pages.group_context(view, gid),
               keys[f"group:{gid}"])
    _remove_stale(out_dir, written + kept)
    manifest.write(out_dir, new_manifest)
    return Pages(written, unchanged=kept)


@lru_cache(maxsize=1)
def _environment():
    import jinja2   # only when a page is rendered
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("eventstudy.report", "templates"),
        autoescape=jinja2.select_autoescape(["html"]), undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.globals["table"] = pages.table_html    # {{ table(t, "class") }} in the templates
    return env


def _template_bytes(name: str) -> bytes:
    return resources.files("eventstudy.report").joinpath("templates", name).read_bytes()


def plotly_js() -> bytes:
    """The installed plotly package's plotly.min.js (the one the figures were made for),
    found without importing plotly (its import is ~10 ms we do not otherwise need)."""
    from importlib.util import find_spec
    spec = find_spec("plotly")
    if spec is not None and spec.origin:
        path = Path(spec.origin).parent / "package_data" / "plotly.min.js"
        if path.is_file():
            return path.read_bytes()
    from plotly.offline import get_plotlyjs   # pragma: no cover - other layouts
    return get_plotlyjs().encode("utf-8")


def _write_assets(assets: Path) -> None:
    files = {"plotly.min.js": plotly_js(), **{name: _template_bytes(name) for name in ASSETS}}
    for name, data in sorted(files.items()):
        target = assets / name
        if target.is_file() and target.stat().st_size == len(data) and target.read_bytes() == data:
            continue
        atomic.write_bytes(target, data)


def _remove_stale(out_dir: Path, written: list[Path]) -> None:
    keep = {p.resolve() for p in written}
    for sub in ("events", "groups", "."):
        folder = out_dir / sub
        if not folder.is_dir():
            continue
        pattern = "regressions.html" if sub == "." else "*.html"
        for page in sorted(folder.glob(pattern)):
            if page.resolve() in keep:
                continue
            try:
                head = page.read_text("utf-8", errors="replace")[:2000]
            except OSError:
                continue
            if f'<meta name="generator" content="{GENERATOR}">' in head:
                page.unlink(missing_ok=True)
