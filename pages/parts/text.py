"""Text from users and files (tokens, file names, messages) shown as text in widgets that render Markdown.

Most Streamlit elements (messages, captions, metric and button labels) read their text as Markdown, where a
token like `![x](http://host/t.png)` would fetch an image and `**word**` would turn bold. `literal` escapes
with a backslash, which CommonMark always reads as the mark itself, every mark that can start Markdown or
Streamlit syntax (links, images, emphasis, code, HTML, formulas, `:colour[...]`), and at the
start of a line those that make lists, headings and quotes. Other text passes unchanged, so messages read
as they were written.
"""

from __future__ import annotations

import re

_ANYWHERE = re.compile(r"([\\`*_\[\]()!#>|~<$&])")
_LINE_START = re.compile(r"^(\s*)([-+=]|\d+(?=[.]))", re.MULTILINE)  # "- " "+ " "=" "1." (")" is escaped)


def literal(text: object) -> str:
    """`text` as Markdown that shows exactly `text`: no link, image, emphasis, heading, list, colour or formula."""
    escaped = _ANYWHERE.sub(r"\\\1", str(text))
    return _LINE_START.sub(_escape_line_start, escaped)


def _escape_line_start(match: re.Match[str]) -> str:
    indent, mark = match.groups()
    return f"{indent}{mark}\\" if mark[0].isdigit() else f"{indent}\\{mark}"
