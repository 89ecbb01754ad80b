"""Templates page: registry, create + preview a template, refuse an invalid one, edit/delete, apply to data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from curation.filters import ExampleFilter
from curation.generate import templates as T
from curation.io import importers
from curation.store import Store, examples
from ui.text import inert

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "5_Templates.py")


@pytest.fixture
def at() -> AppTest:
    app = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not app.exception, app.exception
    return app


def _store() -> Store:
    return Store(os.environ["INSTRUCT_CURATOR_DB"])


def codes(app: AppTest) -> list[str]:
    return [c.value for c in app.code]


def test_registry_lists_builtin_tasks(at: AppTest) -> None:
    registry = at.dataframe[0].value
    assert sorted(registry["task"]) == ["arithmetic", "nli", "sentiment"]
    assert registry.set_index("task").loc["nli", "options"] == "yes | it is not possible to tell | no"
    assert all(registry["templates"] >= 5)


def test_create_and_preview_a_template(at: AppTest) -> None:
    at.selectbox(key="tpl_task").select("nli").run()
    at.text_area(key="tpl_new_input").input("Given: {premise}\nQ: {hypothesis}\n{options_}").run()
    at.button(key="tpl_new_preview").click().run()
    assert not at.exception, at.exception
    expected = (
        "Given: A woman in a red coat is feeding pigeons in a city square.\nQ: A woman is outdoors.\n"
        "OPTIONS:\n- yes\n- it is not possible to tell\n- no"
    )
    assert expected in codes(at)
    at.button(key="tpl_new_save").click().run()
    assert any("Added template nli/7" in s.value for s in at.success)
    saved = T.get_templates(_store(), "nli", ["nli/7"])[0]
    assert saved.input == "Given: {premise}\nQ: {hypothesis}\n{options_}" and saved.target == "{answer}"
    assert at.text_area(key="tpl_new_input").value == ""


def test_invalid_template_is_refused_with_the_placeholder_named(at: AppTest) -> None:
    at.selectbox(key="tpl_task").select("sentiment").run()
    at.text_area(key="tpl_new_input").input("Review: {text} {colour}").run()
    at.button(key="tpl_new_preview").click().run()
    assert at.error and any("unknown placeholder {colour} in the input" in c for c in codes(at))
    at.text_input(key="tpl_new_target").input("no answer here").run()
    at.text_area(key="tpl_new_input").input("Review: {text}").run()
    at.button(key="tpl_new_save").click().run()
    assert at.error[0].value == "The template was not added."
    assert any("the target has no answer placeholder" in c for c in codes(at))
    assert len(T.get_templates(_store(), "sentiment")) == 6


def test_edit_and_delete_a_template(at: AppTest) -> None:
    at.selectbox(key="tpl_task").select("arithmetic").run()
    at.text_input(key="tpl_tg_arithmetic/2").input("Result: {answer}").run()
    at.button(key="tpl_save_arithmetic/2").click().run()
    assert T.get_templates(_store(), "arithmetic", ["arithmetic/2"])[0].target == "Result: {answer}"
    at.button(key="tpl_del_arithmetic/6").click().run()
    assert [t.id for t in T.get_templates(_store(), "arithmetic")][-1] == "arithmetic/5"


def test_apply_builtin_sample_few_shot(at: AppTest) -> None:
    at.selectbox(key="tpl_task").select("sentiment").run()
    at.radio(key="tpl_format").set_value("few-shot").run()
    at.number_input(key="tpl_k_few-shot").set_value(1).run()
    at.selectbox(key="tpl_fewshot_style").select("question-answer").run()
    assert not at.exception, at.exception
    assert any(m.value.startswith("**12 rows** ready") for m in at.markdown)
    preview = [c for c in codes(at) if c.startswith("Question: ")]
    assert len(preview) == 5 and all(c.endswith("\n\nAnswer:") for c in preview)
    at.button(key="tpl_apply_write").click().run()
    rows = examples.fetch(_store(), ExampleFilter(origins=["templated"], tasks=["sentiment"]))
    assert len(rows) == 12 and set(rows["format"]) == {"few-shot"}
    assert rows["instruction"].tolist()[:5] == preview
    # the outcome shows under the button, inside the tab the user is on, not at the page's top
    said = [m.value for m in at.tabs[1].success]
    assert said == [
        f"Wrote 12 templated rows for task sentiment (pending review, ids {rows['id'].min()}-{rows['id'].max()})."
    ]


def test_create_a_task(at: AppTest) -> None:
    at.text_input(key="tpl_task_name").input("topic").run()
    at.text_input(key="tpl_task_cluster").input("topic classification").run()
    at.text_input(key="tpl_task_fields").input("headline").run()
    at.text_input(key="tpl_task_options").input("business, sport").run()
    at.button(key="tpl_task_save").click().run()
    assert T.get_task(_store(), "topic").options == ("business", "sport")
    assert at.selectbox(key="tpl_task").value == "topic"
    at.text_area(key="tpl_new_input").input("{headline}\n{options_}").run()
    at.button(key="tpl_new_preview").click().run()
    assert "<headline 1>\nOPTIONS:\n- business\n- sport" in codes(at)


def test_apply_to_flan_cot_rows_in_the_store(at: AppTest) -> None:
    tsv = b"What is 2 + 3?\t5\t2 plus 3 makes 5.\nWhat is 4 * 2?\t8\tFour twos are 8.\n"
    importers.import_bytes(_store(), tsv, "tiny_train.tsv", "flan-cot-tsv")
    at.selectbox(key="tpl_task").select("arithmetic").run()
    at.radio(key="tpl_format").set_value("cot").run()
    at.selectbox(key="tpl_cot_style").select("answer-first").run()
    at.multiselect(key="tpl_use_arithmetic").select("arithmetic/1").run()
    at.radio(key="tpl_apply_source").set_value("Store rows").run()
    at.multiselect(key="tpl_store_tasks").select("tiny").run()
    assert not at.exception, at.exception
    assert "What is 2 + 3?\nLet's think step by step." in codes(at)
    assert "5. Explanation: 2 plus 3 makes 5." in codes(at)
    at.button(key="tpl_apply_write").click().run()
    rows = examples.fetch(_store(), ExampleFilter(origins=["templated"]))
    assert rows["output"].tolist() == ["5. Explanation: 2 plus 3 makes 5.", "8. Explanation: Four twos are 8."]


def test_template_text_is_inert_in_the_expander_label(at: AppTest) -> None:
    """An image link in a template must not become an <img> the browser fetches (labels render Markdown)."""
    evil = "![x](http://127.0.0.1:9/leak.png) **bold** {premise} {hypothesis}"
    template_id = T.add_template(_store(), "nli", evil, "{answer}", author="t")
    at.selectbox(key="tpl_task").select("nli").run()
    label = inert(f"{template_id}: {evil}")
    assert label in [e.label for e in at.expander]
    assert "![x](" not in label and "**" not in label
