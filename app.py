"""Entry point: `streamlit run app.py`. Page configuration, sign-in, and the navigation between the screens."""

from __future__ import annotations

import logging

import streamlit as st

from curation.identity import PermissionDenied, User
from ui import auth, navigation, sessions
from ui.state import ensure_app_navigation
from ui.text import inert

st.set_page_config(page_title="instruct-curator", page_icon=":material/dataset:", layout="wide")
ensure_app_navigation()  # a first request after a start: no pages/ discovery (before the sign-in form)
sessions.reap_closed_sessions()  # closed tabs give their memory back (once per server)

# The least role that may open each page; others see it hidden and refused (the store checks every change too).
LEAST_ROLE = {"Import": "curator", "Export": "curator", "Review": "curator", "Templates": "curator",
              "Generate": "curator", "Dedup": "curator", "CoT": "curator", "Mixture": "curator", "Filters": "curator",
              "Fine-tune": "admin", "Annotate": "annotator", "Campaigns": "curator"}  # fmt: skip


def sections(user: User | None, overview_is_default: bool = True) -> dict[str, list[st.Page]]:
    """The app's pages by section; pages `user` may not open are hidden (None: login off, all shown)."""

    def page(path: str, title: str, icon: str, **kwargs) -> st.Page:
        allowed = auth.may(user, LEAST_ROLE.get(title, "viewer"))
        return st.Page(path, title=title, icon=icon, visibility="visible" if allowed else "hidden", **kwargs)

    return {
        "Data": [
            page("pages/0_Overview.py", "Overview", ":material/dashboard:", default=overview_is_default),
            page("pages/1_Browse.py", "Browse", ":material/table_rows:"),
            page("pages/2_Review.py", "Review", ":material/rule:"),
            page("pages/3_Import.py", "Import", ":material/upload:"),
            page("pages/4_Export.py", "Export", ":material/download:"),
        ],
        "Build": [
            page("pages/5_Templates.py", "Templates", ":material/article:"),
            page("pages/6_Generate.py", "Generate", ":material/auto_awesome:"),
        ],
        "Curate": [
            page("pages/7_Dedup.py", "Dedup", ":material/content_copy:"),
            page("pages/8_CoT.py", "CoT", ":material/psychology:"),
            page("pages/9_Mixture.py", "Mixture", ":material/donut_small:"),
            page("pages/13_Filters.py", "Filters", ":material/filter_alt:"),
        ],
        "Train": [page("pages/10_Finetune.py", "Fine-tune", ":material/model_training:")],
        "Team": [
            page("pages/11_Annotate.py", "Annotate", ":material/how_to_reg:"),
            page("pages/12_Campaigns.py", "Campaigns", ":material/groups:"),
        ],
    }


def signing_in() -> None:
    """The page of the root URL before signing in (auth.gate has drawn the form)."""


# Before signing in the pages are declared hidden: a deep link keeps its page, and pages/ is never listed; the root
# URL gets its own page, so that after signing in the app opens at the default page.
user = auth.gate(
    hidden_navigation=lambda: st.navigation(
        {"": [st.Page(signing_in, title="Sign in", url_path="sign-in", default=True)], **sections(None, False)},
        position="hidden",
    )
)
pages = sections(user)
current = st.navigation(pages, expanded=True)  # every section visible (14 pages)
mistyped = navigation.unknown_page(pages)
if mistyped:  # Streamlit would silently show the default page
    st.error(inert(f"No such page: /{mistyped}. Choose a page in the sidebar."))
    st.stop()
if not auth.may(user, LEAST_ROLE.get(current.title, "viewer")):
    st.error(inert(f"{current.title} needs the {LEAST_ROLE[current.title]} role; you are {user.role}."))
    st.stop()
try:
    current.run()
except PermissionDenied as err:
    st.error(inert(err))
except Exception as err:  # a last resort: the cause in an error box, the traceback only in the server log
    logging.getLogger("instruct-curator").exception("page failed")
    st.error(inert(f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else 'unexpected error'}"))
    st.caption("Nothing more was done. The full traceback is in the server log.")
