"""docs/methods.md as HTML, by a small converter of our own.

(The `markdown` package is not used even when installed: the same docs must give the same
report bytes whatever else happens to be installed.)

The small converter knows what a methods note needs: ATX headings, paragraphs, fenced code,
pipe tables, flat lists, block quotes, and inline code, bold, italic and links. Raw HTML in the
source is escaped, never passed through.
"""
from __future__ import annotations

import html
import re
from pathlib import Path

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)\s*([\w+-]*)\s*$")
_ULIST = re.compile(r"^\s*[-*+]\s+(.*)$")
_OLIST = re.compile(r"^\s*\d+[.)]\s+(.*)$")
_TABLE_SEP = re.compile(r"^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$")
_CODE = re.compile(r"`([^`]+)`")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_ITALIC = re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])|(?<!\w)_(?!\s)(.+?)(?<!\s)_(?!\w)")


def doc_files() -> list[Path] | None:
    """methods.md and the local .md files it links to (None if methods.md is not found)."""
    main = find_methods()
    if main is None:
        return None
    docs = [main]
    for target in re.findall(r"\]\(([^)\s#]+\.md)\)", main.read_text("utf-8")):
        path = (main.parent / target).resolve()
        if path.is_file() and path not in docs and path.parent == main.parent:
            docs.append(path)
    return docs


def doc_sources() -> list[tuple[str, str]] | None:
    """(name, text) of each file `render_docs` renders: what the methods page's manifest key
    hashes, so that an unchanged page needs no rendering (the converter is report code)."""
    docs = doc_files()
    return None if docs is None else [(d.name, d.read_text("utf-8")) for d in docs]


def render_docs() -> tuple[str, list[str]] | None:
    """methods.md and the local .md files it links to, as one HTML fragment with headings
    one level down (the page has its own h1) and links between them turned into anchors.
    Returns (html, names of the files rendered), or None if methods.md is not found."""
    docs = doc_files()
    if docs is None:
        return None
    anchors = {d.name: f"doc-{slug(d.stem)[2:]}" for d in docs}
    parts = []
    for d in docs:
        body = shift_headings(to_html(d.read_text("utf-8")))
        body = rewrite_links(body, anchors).replace(' id="m-', f' id="{anchors[d.name]}-')
        parts.append(f'<section class="doc" id="{anchors[d.name]}">\n{body}</section>\n')
    return "".join(parts), [f"docs/{d.name}" for d in docs]


def shift_headings(fragment: str, by: int = 1) -> str:
    return re.sub(r"<(/?)h([1-6])\b", lambda m: f"<{m.group(1)}h{min(int(m.group(2)) + by, 6)}",
                  fragment)


def rewrite_links(fragment: str, anchors: dict[str, str]) -> str:
    """Links to the rendered docs become anchors; other relative links (files that are not in
    the report) lose their link and keep their text; absolute URLs and anchors stay."""
    def fix(m: re.Match) -> str:
        href, text = html.unescape(m.group(1)), m.group(2)
        if re.match(r"^(https?:|mailto:|#)", href):
            return m.group(0)
        name = href.split("#", 1)[0].rsplit("/", 1)[-1]
        if name in anchors:
            return f'<a href="#{anchors[name]}">{text}</a>'
        return f'<span class="unlinked" title="{html.escape(href)}">{text}</span>'
    return re.sub(r'<a href="([^"]*)">(.*?)</a>', fix, fragment, flags=re.S)


def find_methods() -> Path | None:
    """docs/methods.md beside the package (a source checkout) or inside it (a shipped copy)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "methods.md", here.parent / "methods.md",
                      here.parent.parent / "docs" / "methods.md"):
        if candidate.is_file():
            return candidate
    return None


def _link(m: re.Match) -> str:
    """A markdown link; a URL with a scheme other than http(s)/mailto stays text."""
    href = m.group(2)
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", href) and not re.match(r"^(https?|mailto):",
                                                                        href, re.I):
        return m.group(1)
    return f'<a href="{html.escape(href)}">{m.group(1)}</a>'


def to_html(text: str) -> str:
    return convert(text)


def slug(text: str) -> str:
    s = re.sub(r"[^\w\s-]", "", re.sub(r"<[^>]+>", "", text)).strip().lower()
    return "m-" + re.sub(r"[\s_]+", "-", s)


def inline(text: str) -> str:
    """Inline markup of one escaped line: code first (its content is left alone)."""
    parts = _CODE.split(text)
    out = []
    for i, part in enumerate(parts):
        if i % 2:
            out.append(f"<code>{html.escape(part, quote=False)}</code>")
            continue
        s = html.escape(part, quote=False)
        s = _LINK.sub(_link, s)
        s = _BOLD.sub(r"<strong>\1</strong>", s)
        s = _ITALIC.sub(lambda m: f"<em>{m.group(1) or m.group(2)}</em>", s)
        out.append(s)
    return "".join(out)


def _cells(line: str) -> list[str]:
    line = line.strip()
    if line.startswith("|"):
        line = line[1:]
    if line.endswith("|") and not line.endswith("\\|"):
        line = line[:-1]
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line)]


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _list(block: list[str]) -> str:
    """A list and the lists nested in it (deeper indentation), from consecutive lines."""
    base = _indent(block[0])
    ordered = bool(_OLIST.match(block[0])) and not _ULIST.match(block[0])
    items: list[tuple[list[str], list[str]]] = []     # (text lines, nested block)
    for line in block:
        m = _OLIST.match(line) or _ULIST.match(line)
        if m and _indent(line) <= base + 1:
            items.append(([m.group(1)], []))
        elif not items:
            items.append(([line.strip()], []))
        elif m or items[-1][1]:
            items[-1][1].append(line)
        else:
            items[-1][0].append(line.strip())
    tag = "ol" if ordered else "ul"
    body = "".join(f"<li>{inline(' '.join(text))}{_list(nested) if nested else ''}</li>"
                   for text, nested in items)
    return f"<{tag}>{body}</{tag}>"


def convert(text: str) -> str:
    lines = text.replace("\r\n", "\n").split("\n")
    out: list[str] = []
    para: list[str] = []
    i = 0

    def flush() -> None:
        if para:
            out.append("<p>" + inline(" ".join(s.strip() for s in para)) + "</p>")
            para.clear()

    while i < len(lines):
        line = lines[i]
        fence = _FENCE.match(line)
        if fence:
            flush()
            body, i = [], i + 1
            while i < len(lines) and not lines[i].strip().startswith(fence.group(1)):
                body.append(lines[i])
                i += 1
            lang = f' class="language-{fence.group(2)}"' if fence.group(2) else ""
            out.append(f"<pre><code{lang}>" + html.escape("\n".join(body), quote=False)
                       + "</code></pre>")
            i += 1
            continue
        if not line.strip():
            flush()
            i += 1
            continue
        head = _HEADING.match(line)
        if head:
            flush()
            level, body = len(head.group(1)), inline(head.group(2))
            out.append(f'<h{level} id="{slug(body)}">{body}</h{level}>')
            i += 1
            continue
        if "|" in line and i + 1 < len(lines) and _TABLE_SEP.match(lines[i + 1]):
            flush()
            header = _cells(line)
            aligns = []
            for c in _cells(lines[i + 1]):
                aligns.append("right" if c.endswith(":") and not c.startswith(":") else
                              "center" if c.startswith(":") and c.endswith(":") else "")
            i += 2
            rows = []
            while i < len(lines) and "|" in lines[i] and lines[i].strip():
                rows.append(_cells(lines[i]))
                i += 1

            def cell(tag: str, k: int, value: str) -> str:
                a = aligns[k] if k < len(aligns) else ""
                style = f' style="text-align:{a}"' if a else ""
                return f"<{tag}{style}>{inline(value)}</{tag}>"
            out.append('<table class="md">\n<thead><tr>'
                       + "".join(cell("th", k, c) for k, c in enumerate(header))
                       + "</tr></thead>\n<tbody>\n"
                       + "\n".join("<tr>" + "".join(cell("td", k, c) for k, c in enumerate(r))
                                   + "</tr>" for r in rows)
                       + "\n</tbody>\n</table>")
            continue
        if _ULIST.match(line) or _OLIST.match(line):
            flush()
            block = []
            while i < len(lines) and lines[i].strip():
                if not block or _ULIST.match(lines[i]) or _OLIST.match(lines[i]) \
                        or lines[i].startswith((" ", "\t")):
                    block.append(lines[i])
                    i += 1
                else:
                    break
            out.append(_list(block))
            continue
        if line.lstrip().startswith(">"):
            flush()
            quote = []
            while i < len(lines) and lines[i].lstrip().startswith(">"):
                quote.append(lines[i].lstrip()[1:].strip())
                i += 1
            out.append("<blockquote><p>" + inline(" ".join(quote)) + "</p></blockquote>")
            continue
        para.append(line)
        i += 1
    flush()
    return "\n".join(out) + "\n"
