"""The live panel in the browser: a Streamlit component that fetches the panel from `pages.parts.live_feed`
every second and swaps it in, so that following a run costs no Streamlit rerun.

It asks Python for a rerun (the `ended` trigger) once, when the run no longer trains or waits, so
that the page shows the finished run's interactive chart, Resume and the rest. It skips polls while
the tab is hidden, and stops when it is removed from the page.
"""

from __future__ import annotations

import streamlit as st

POLL_MS = 1000

CSS = """
:host { display: block; }
.panel { font-family: var(--st-font, sans-serif); color: var(--st-text-color, #1c2430); font-size: 0.95rem; }
.state { background: #e8f0fd; color: #1d4e9e; border-radius: 0.5rem; padding: 0.9rem 1rem; margin-bottom: 0.8rem; }
.progress { height: 0.5rem; background: #e5e9f0; border-radius: 0.25rem; overflow: hidden; }
.progress > div { height: 100%; background: var(--st-primary-color, #2f6fde); }
.caption { color: #6b7280; font-size: 0.85rem; margin: 0.3rem 0 0.8rem; }
.figures { display: flex; gap: 1rem; margin-bottom: 0.6rem; }
.figures > div { flex: 1; }
.label { font-size: 0.85rem; }
.value { font-size: 1.9rem; }
.chart { width: 100%; height: auto; display: block; }
h3 { font-size: 1.5rem; font-weight: 600; margin: 1rem 0 0.5rem; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 0.3rem 0.5rem; border-bottom: 1px solid #e5e9f0; }
th { color: #6b7280; font-weight: 400; }
.error { color: #b42318; }
"""

JS = f"""
export default function(component) {{
    const {{ data, parentElement, setTriggerValue }} = component;
    let box = parentElement.querySelector(".panel");
    if (!box) {{
        box = document.createElement("div");
        box.className = "panel";
        parentElement.appendChild(box);
    }}
    if (data.html) box.innerHTML = data.html;
    let shown = data.html, ended = false, busy = false;
    async function poll() {{
        if (ended || busy || document.hidden) return;
        busy = true;
        try {{
            const reply = await fetch(data.url, {{ cache: "no-store" }});
            if (reply.ok) {{
                const body = await reply.json();
                if (body.html !== shown) {{ box.innerHTML = body.html; shown = body.html; }}
                if (body.ended) {{ ended = true; setTriggerValue("ended", true); }}
            }} else if (reply.status === 404) {{
                ended = true; setTriggerValue("ended", true);
            }}
        }} catch (error) {{
            /* the server restarts or is gone: Streamlit shows that; try again at the next poll */
        }} finally {{
            busy = false;
        }}
    }}
    // Streamlit calls this again when the page reruns (new data) without always cleaning up first: one poller
    clearInterval(parentElement.w2vTimer);
    const timer = setInterval(poll, {POLL_MS});
    parentElement.w2vTimer = timer;
    return () => clearInterval(timer);
}}
"""

_mount = st.components.v2.component("w2v_live_panel", css=CSS, js=JS)


def live_panel(url: str, html: str, key: str) -> None:
    """Mount the panel: `html` shows at once, then the browser follows `url`; when the run ends, the
    fragment around the panel reruns."""
    _mount(data={"url": url, "html": html}, key=key, on_ended_change=_ignore)


def _ignore() -> None:
    """The trigger needs a callback to exist; the rerun it causes is all the page needs."""
