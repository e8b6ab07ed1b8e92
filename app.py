"""Word2Vec Studio: `streamlit run app.py`. Navigation only; each page lives in pages/.

`streamlit run` finds `app` below, an `st.App` (Streamlit's ASGI application, its documented way to put
middleware in front of the server), and serves it: `HostGuard` refuses any request, the page or the
websocket, that names a Host other than the loopback's (`pages/parts/hosts.py`). Every browser session
then runs this file as its script, as `__main__`, which draws the navigation.
"""

import streamlit as st


def navigate() -> None:
    from pages.parts.common import launcher

    st.set_page_config(page_title="Word2Vec Studio", page_icon=":material/hub:", layout="wide")
    pages = [
        st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
        st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
        st.Page("pages/neighbours.py", title="Neighbours", icon=":material/travel_explore:"),
        st.Page("pages/inside.py", title="Inside the model", icon=":material/school:"),
        st.Page("pages/projection.py", title="Projection", icon=":material/scatter_plot:"),
        st.Page("pages/evaluate.py", title="Evaluate", icon=":material/fact_check:"),
        st.Page("pages/compare.py", title="Compare", icon=":material/compare_arrows:"),
    ]
    st.session_state["app_ran"] = True  # see pages.parts.common.require_app
    navigation = st.navigation(pages)
    deep_link, query = st.session_state.pop("deep_link", (None, {}))
    target = next((page for page in pages if page.url_path == deep_link), None)
    if target is not None and target.url_path != navigation.url_path:
        st.switch_page(target, query_params=query)
    launcher().keep_spare()  # a training process gets ready while the user looks around, so Start begins at once
    navigation.run()


if __name__ == "__main__":  # a session's script run
    navigate()
else:  # imported by `streamlit run`: the server
    from starlette.middleware import Middleware

    from pages.parts.hosts import HostGuard

    app = st.App(__file__, middleware=[Middleware(HostGuard)])
