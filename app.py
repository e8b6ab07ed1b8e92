"""Word2Vec Studio: `streamlit run app.py`. Navigation only; each page lives in pages/."""

import streamlit as st

st.set_page_config(page_title="Word2Vec Studio", page_icon="🔤", layout="wide")

navigation = st.navigation(
    [
        st.Page("pages/home.py", title="Home", icon="🏠", default=True),
        st.Page("pages/train.py", title="Train", icon="🏋️"),
        st.Page("pages/neighbours.py", title="Neighbours", icon="🧭"),
        st.Page("pages/projection.py", title="Projection", icon="🗺️"),
    ]
)
navigation.run()
