"""Word2Vec Studio: `streamlit run app.py`. Navigation only; each page lives in pages/."""

import streamlit as st

st.set_page_config(page_title="Word2Vec Studio", page_icon=":material/hub:", layout="wide")

navigation = st.navigation(
    [
        st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
        st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
        st.Page("pages/neighbours.py", title="Neighbours", icon=":material/travel_explore:"),
        st.Page("pages/projection.py", title="Projection", icon=":material/scatter_plot:"),
    ]
)
navigation.run()
