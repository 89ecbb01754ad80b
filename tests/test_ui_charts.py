"""ui.charts.top_with_other: the largest groups stay, the rest become one 'other' bar with their sum."""

from __future__ import annotations

import pandas as pd

from ui.charts import top_with_other


def test_one_big_group_and_a_long_tail() -> None:
    counts = pd.DataFrame({"value": ["big", *(f"g{i:02d}" for i in range(49))], "count": [5000, *range(49, 0, -1)]})
    shown = top_with_other(counts.sample(frac=1, random_state=0), "value", ["count"], 3)
    assert shown.values.tolist() == [["big", 5000], ["g00", 49], ["g01", 48], ["other (47 groups)", sum(range(1, 48))]]


def test_few_groups_are_only_sorted() -> None:
    groups = pd.DataFrame({"group": ["a", "b"], "before": [1, 9], "after": [5, 5]})
    assert top_with_other(groups, "group", ["before", "after"], 25).values.tolist() == [["b", 9, 5], ["a", 1, 5]]
