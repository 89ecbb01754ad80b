"""The filter shared by Browse, Review and Export, in a popover at the top of the page (widget values survive page
switches and reloads).

Every filter widget is bound to the URL (`?filter_w_search=...`), so a reload keeps the filter and a link shares it.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from curation.filters import FORMATS, LENGTH_FIELDS, ORIGINS, STATUSES, ExampleFilter
from curation.store import Store, examples, ratings
from curation.store import signals as signals_store

STATE_KEY = "filter_current"  # plain dict of the last filter drawn, readable by pages without the sidebar
_PREFIX = "filter_w_"
# (label, ExampleFilter attribute, distinct_values column or fixed options)
_CHOICES: tuple[tuple[str, str, str | tuple[str, ...]], ...] = (
    ("Status", "statuses", STATUSES),
    ("Origin", "origins", ORIGINS),
    ("Source", "sources", "source"),
    ("Tag", "tags", "tag"),
    ("Task", "tasks", "task"),
    ("Task cluster", "clusters", "task_cluster"),
    ("Format", "formats", FORMATS),
)

_DEFAULTS: dict[str, Any] = {
    "search": "",
    **{attr: [] for _, attr, _ in _CHOICES},
    "length_field": "total",
    "min_length": None,
    "max_length": None,
}


def _key(name: str) -> str:
    return _PREFIX + name


def _seed(name: str, default: Any) -> str:
    """Widget key for `name`, pre-filled from the shared filter when this page draws it for the first time."""
    key = _key(name)
    if key not in st.session_state and key in st.query_params:
        return key  # a reload or a shared link: the widget takes its value from the URL
    # Re-assigning keeps a value across a page switch: Streamlit would otherwise drop it with the old widget.
    st.session_state[key] = st.session_state.get(key, st.session_state.get(STATE_KEY, {}).get(name, default))
    return key


def _options(store: Store, attr: str, values: str | tuple[str, ...]) -> list[str]:
    options = list(values) if isinstance(values, tuple) else examples.distinct_values(store, values)
    chosen = st.session_state.get(_key(attr)) or []
    return options + [v for v in chosen if v not in options]


def clear_filter() -> None:
    """Forget every filter choice (a button callback, so it runs before widgets are drawn)."""
    set_filter(ExampleFilter())


def filter_sidebar(store: Store, *, title: str = "Filter") -> ExampleFilter:
    """Draw the filter widgets in a popover at the top of the page (the sidebar's page list would push them below
    a 768 px screen) and return the chosen filter; the button says what is filtered."""
    active = _active_parts()
    label = f"{title}: {active}" if active else f"{title}: all rows"
    with st.popover(label, icon=":material/filter_list:", width="content"):
        search = st.text_input(
            "Search text",
            key=_seed("search", ""),
            placeholder="words in instruction, input or output",
            bind="query-params",
            help="Case-insensitive substring match; % and _ are matched literally.",
        )
        chosen: dict[str, Any] = {"search": search or ""}
        for label, attr, values in _CHOICES:
            key = _seed(attr, [])
            chosen[attr] = st.multiselect(
                label, _options(store, attr, values), key=key, placeholder="any", bind="query-params"
            )
        chosen |= _length_widgets()
        chosen |= _rating_widgets(store)
        chosen |= _signal_widgets(store)
        st.button("Clear filters", key=_key("clear"), on_click=clear_filter, width="stretch")
    flt = ExampleFilter(**chosen)
    st.session_state[STATE_KEY] = flt.to_dict()
    return flt


def _active_parts() -> str:
    """The filter as the widgets hold it now (before they are drawn), in words, shortened for a button label."""
    values = {name: _value_now(name, default) for name, default in _DEFAULTS.items()}
    try:
        text = ExampleFilter(**{k: v for k, v in values.items() if k in _DEFAULTS}).describe()
    except (TypeError, ValueError):
        return ""
    if text in ("", "all rows"):
        return ""
    return text if len(text) <= 60 else text[:57] + "…"


def _value_now(name: str, default: Any) -> Any:
    """A filter widget's value before it is drawn: its state, else the URL it is bound to (a fresh session)."""
    key = _key(name)
    if key in st.session_state:
        return st.session_state[key]
    if key not in st.query_params:
        return default
    if isinstance(default, list):
        return st.query_params.get_all(key)
    raw = st.query_params.get(key)
    if name in ("min_length", "max_length"):
        return int(float(raw)) if raw not in (None, "") else None
    return raw


def _length_widgets() -> dict[str, Any]:
    with st.expander("Length (characters)", expanded=False):
        field = st.selectbox(
            "Length of",
            LENGTH_FIELDS,
            key=_seed("length_field", "total"),
            bind="query-params",
        )
        low, high = st.columns(2)
        bounds = {"min_value": 0, "value": None, "step": 10, "bind": "query-params"}
        min_length = low.number_input("Min", key=_seed("min_length", None), **bounds)
        max_length = high.number_input("Max", key=_seed("max_length", None), **bounds)
    return {
        "length_field": field,
        "min_length": None if min_length is None else int(min_length),
        "max_length": None if max_length is None else int(max_length),
    }


def _rating_widgets(store: Store) -> dict[str, Any]:
    with st.expander("Judge rating", expanded=False):
        chosen = st.session_state.get(_key("rating_rubric")) or ""
        rated = ratings.rated_rubrics(store)
        rubrics = ["", *rated] + ([chosen] if chosen and chosen not in rated else [])
        rubric = st.selectbox(
            "Rubric", rubrics, key=_seed("rating_rubric", ""), format_func=lambda r: r or "any (no rating filter)"
        )
        low, high = st.columns(2)
        min_rating = low.number_input("Min score", value=None, step=0.5, key=_seed("min_rating", None))
        max_rating = high.number_input("Max score", value=None, step=0.5, key=_seed("max_rating", None))
    if not rubric:
        return {}
    return {"rating_rubric": rubric, "min_rating": min_rating, "max_rating": max_rating}


def _signal_label(pair: str) -> str:
    name, _, variant = pair.partition("@")
    return f"{name} [{variant}]" if variant else name or "none (no signal filter)"


def _signal_widgets(store: Store) -> dict[str, Any]:
    """One signal clause: a stored signal (name@variant), a score range and/or labels."""
    with st.expander("Signal", expanded=False):
        catalog = signals_store.catalog(store)
        stored = [f"{n}@{v}" if v else n for n, v in zip(catalog["name"], catalog["variant"], strict=True)]
        chosen = st.session_state.get(_key("signal")) or ""
        options = ["", *stored] + ([chosen] if chosen and chosen not in stored else [])
        pair = st.selectbox("Signal", options, key=_seed("signal", ""), format_func=_signal_label)
        low, high = st.columns(2)
        min_score = low.number_input("Min score", value=None, step=0.05, key=_seed("signal_min", None))
        max_score = high.number_input("Max score", value=None, step=0.05, key=_seed("signal_max", None))
        name, _, variant = pair.partition("@")
        found = signals_store.label_counts(store, name, variant) if name else None
        labels = [v for v in (found["label"] if found is not None else []) if v]
        picked = st.session_state.get(_key("signal_labels")) or []
        chosen_labels = st.multiselect(
            "Labels", labels + [v for v in picked if v not in labels], key=_seed("signal_labels", []), placeholder="any"
        )
    if not name:
        return {}
    clause = {"name": name, "variant": variant, "min": min_score, "max": max_score, "labels": chosen_labels}
    return {"signals": [{k: v for k, v in clause.items() if v not in (None, [])}]}


def current_filter() -> ExampleFilter:
    """The filter last chosen on any page (all rows if none), without drawing widgets."""
    return ExampleFilter.from_dict(st.session_state.get(STATE_KEY))


def set_filter(flt: ExampleFilter) -> None:
    """Make `flt` the shared filter (e.g. before st.switch_page to Browse); call before widgets are drawn."""
    chosen = flt.to_dict()
    for name, default in _DEFAULTS.items():  # assigned, not deleted: the widgets are bound to the URL
        value = chosen.get(name, default)
        st.session_state[_key(name)] = list(value) if isinstance(value, list | tuple) else value
    clause = (chosen.get("signals") or [{}])[0]  # the sidebar shows one signal clause
    pair = f"{clause['name']}@{clause['variant']}" if clause.get("variant") else clause.get("name", "")
    values = {
        "signal": pair,
        "signal_min": clause.get("min"),
        "signal_max": clause.get("max"),
        "signal_labels": list(clause.get("labels") or []),
    }
    for name, value in values.items():
        st.session_state[_key(name)] = value
    st.session_state[STATE_KEY] = chosen
