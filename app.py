"""Entry point: `streamlit run app.py`. Page configuration and the navigation between the screens in pages/."""

from __future__ import annotations

import logging

import streamlit as st

from ui.text import inert

st.set_page_config(page_title="instruct-curator", page_icon=":material/dataset:", layout="wide")

SECTIONS = {
    "Data": [
        st.Page("pages/0_Overview.py", title="Overview", icon=":material/dashboard:", default=True),
        st.Page("pages/1_Browse.py", title="Browse", icon=":material/table_rows:"),
        st.Page("pages/2_Review.py", title="Review", icon=":material/rule:"),
        st.Page("pages/3_Import.py", title="Import", icon=":material/upload:"),
        st.Page("pages/4_Export.py", title="Export", icon=":material/download:"),
    ],
    "Build": [
        st.Page("pages/5_Templates.py", title="Templates", icon=":material/article:"),
        st.Page("pages/6_Generate.py", title="Generate", icon=":material/auto_awesome:"),
    ],
    "Curate": [
        st.Page("pages/7_Dedup.py", title="Dedup", icon=":material/content_copy:"),
        st.Page("pages/8_CoT.py", title="CoT", icon=":material/psychology:"),
        st.Page("pages/9_Mixture.py", title="Mixture", icon=":material/donut_small:"),
    ],
    "Train": [st.Page("pages/10_Finetune.py", title="Fine-tune", icon=":material/model_training:")],
}

try:
    st.navigation(SECTIONS).run()
except Exception as err:  # a last resort: the cause in an error box, the traceback only in the server log
    logging.getLogger("instruct-curator").exception("page failed")
    st.error(inert(f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else 'unexpected error'}"))
    st.caption("Nothing more was done. The full traceback is in the server log.")
