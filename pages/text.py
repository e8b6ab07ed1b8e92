"""Text from users and files (tokens, file names, messages) shown as text in widgets that render Markdown.

Most Streamlit elements (messages, captions, metric and button labels) read their text as Markdown, where a
token like `![x](http://host/t.png)` would fetch an image and `**word**` would turn bold. `literal` escapes
every ASCII punctuation mark with a backslash, which CommonMark always reads as the mark itself.
"""

from __future__ import annotations

import re
import string

_PUNCTUATION = re.compile(f"([{re.escape(string.punctuation)}])")


def literal(text: object) -> str:
    """`text` as Markdown that shows exactly `text`: no link, image, emphasis, heading, colour or formula."""
    return _PUNCTUATION.sub(r"\\\1", str(text))
