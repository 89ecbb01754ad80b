"""Mixing math (caps, temperature, weights, CoT share, totals, rounding), sampling, held-out split, export."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pandas as pd
import pytest

from curation.cot import tagging as cot_tagging
from curation.mixture import export as mixture_export
from curation.mixture import plan as mixture
from curation.mixture import snapshot
from curation.mixture.plan import MixConfig, allocate, largest_remainder
from curation.store import revisions


def _counts(rows: list[tuple[str, bool, int]], held: list[tuple[str, bool, int]] = ()) -> pd.DataFrame:
    data = [(g, c, False, n) for g, c, n in rows] + [(g, c, True, n) for g, c, n in held]
    return pd.DataFrame(data, columns=["group", "cot", "held", "count"])


def _takes(plan: mixture.MixturePlan) -> dict[str, int]:
    return dict(zip(plan.groups["group"], plan.groups["after"].astype(int), strict=True))


ABC = _counts([("A", False, 1000), ("B", False, 100), ("C", False, 10)])


def test_examples_proportional_with_cap() -> None:
    plan = allocate(ABC, MixConfig(cap=50))
    assert _takes(plan) == {"A": 50, "B": 50, "C": 10} and plan.total == 110
    assert plan.groups["epochs"].tolist() == [0.05, 0.5, 1.0]
    assert "'A' keeps 5.0% of its rows" in " ".join(plan.warnings)


def test_cap_with_a_target_total_repeats_small_groups_and_warns() -> None:
    plan = allocate(ABC, MixConfig(cap=50, total=440, max_epochs=3))
    assert _takes(plan) == {"A": 200, "B": 200, "C": 40}
    assert plan.groups.set_index("group").loc["C", "epochs"] == 4.0
    assert plan.groups.set_index("group").loc["C", "warning"] == "repeats 4.00x (> 3)"
    assert plan.groups.set_index("group").loc["A", "warning"] == ""  # 20% kept, above min_fraction 10%


def test_no_rule_keeps_every_row_once() -> None:
    assert _takes(allocate(ABC, MixConfig())) == {"A": 1000, "B": 100, "C": 10}


def test_temperature_flattens_rates() -> None:
    # rates 100**0.5 = 10 and 400**0.5 = 20 -> shares 1/3, 2/3 of 500 -> 166.67, 333.33 -> 167, 333
    plan = allocate(_counts([("A", False, 100), ("B", False, 400)]), MixConfig(temperature=2))
    assert _takes(plan) == {"A": 167, "B": 333}


def test_weights_for_some_groups_fix_their_share() -> None:
    counts = _counts([("A", False, 1000), ("B", False, 1000), ("C", False, 1000)])
    assert _takes(allocate(counts, MixConfig(weights={"A": 0.5}))) == {"A": 1500, "B": 750, "C": 750}
    full = allocate(counts, MixConfig(weights={"A": 40, "B": 32, "C": 28}))  # Flan-style percentages
    assert _takes(full) == {"A": 1200, "B": 960, "C": 840}
    with pytest.raises(ValueError, match="sum to <= 1"):
        allocate(counts, MixConfig(weights={"A": 0.7, "B": 0.6}))
    assert "'Z' ignored" in " ".join(allocate(counts, MixConfig(weights={"Z": 0.2})).warnings)


def test_cot_share_rescales_cot_and_plain_rows() -> None:
    counts = _counts([("s1", True, 100), ("s1", False, 900), ("s2", False, 1000)])
    plan = allocate(counts, MixConfig(cot_share=0.2))
    parts = plan.parts.set_index(["group", "cot"])["take"].to_dict()
    # 400 CoT rows (20% of 2000); 1600 plain rows split 900:1000 -> 757.9, 842.1 -> 758, 842
    assert parts == {("s1", False): 758, ("s1", True): 400, ("s2", False): 842}
    assert plan.cot_share == 0.2
    no_cot = allocate(_counts([("s2", False, 10)]), MixConfig(cot_share=0.5))
    assert "no CoT rows" in " ".join(no_cot.warnings) and no_cot.total == 10


def test_all_rules_combined() -> None:
    # X: 30 CoT + 270 plain, Y: 100, Z: 50. cap 200 and T=2: rates sqrt(200)=14.142, 10, 7.071.
    # Z weighted 0.2; X, Y share 0.8 by rate: 0.46862, 0.33138. X splits 10% CoT: 0.046862 / 0.421758.
    # CoT share 0.25: plain parts scale by 0.75 / 0.953138: X 0.331875, Y 0.260757, Z 0.157375.
    # total 1000 -> quotas 250, 331.875, 260.757, 157.375 -> floors sum 998 -> +1 to X plain and Y.
    counts = _counts([("X", True, 30), ("X", False, 270), ("Y", False, 100), ("Z", False, 50)])
    config = MixConfig(cap=200, temperature=2, weights={"Z": 0.2}, cot_share=0.25, total=1000)
    parts = allocate(counts, config).parts.set_index(["group", "cot"])["take"].to_dict()
    assert parts == {("X", False): 332, ("X", True): 250, ("Y", False): 261, ("Z", False): 157}
    assert (
        config.rule()
        == "examples-proportional(cap=200) + temperature(T=2) + weights(Z=0.2) + cot_share(0.25) + total(1000)"
    )


def test_largest_remainder_keeps_the_total_with_deterministic_ties() -> None:
    assert largest_remainder([1, 1, 1], 10) == [4, 3, 3]
    assert largest_remainder([0.5, 0.5], 3) == [2, 1]
    rng = random.Random(7)
    for _ in range(200):
        quotas = [rng.random() * rng.choice([1, 10, 1000]) for _ in range(rng.randint(1, 12))]
        total = rng.randint(0, 5000)
        result = largest_remainder(quotas, total)
        assert sum(result) == total
        exact = [q * total / sum(quotas) for q in quotas]
        assert all(abs(r - e) < 1 for r, e in zip(result, exact, strict=True))


def test_heldout_counts_come_from_the_held_flag() -> None:
    clustered = allocate(_counts([("A", False, 50)], held=[("A", False, 20), ("B", False, 5)]), MixConfig())
    assert clustered.groups[["group", "before", "heldout", "after"]].values.tolist() == [
        ["A", 50, 20, 50],
        ["B", 0, 5, 0],
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"group_by": "colour"}, "group_by must be one of"),
        ({"statuses": ["duplicate"]}, "duplicates never enter"),
        ({"cap": 0}, "cap must be a positive integer"),
        ({"temperature": 0}, "temperature must be > 0"),
        ({"cot_share": 1.5}, "cot_share must be in"),
        ({"heldout_fraction": 0.1, "heldout_clusters": ["x"]}, "not both"),
        ({"name": "a b"}, "snapshot name"),
        ({"cpa": 3}, "unknown mixture setting"),
        ({"cot_format": "both"}, "cot_format must be one of"),
    ],
)
def test_config_errors_name_the_setting(data: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MixConfig.from_dict(data)


def test_config_from_yaml(tmp_path: Path) -> None:
    path = tmp_path / "mix.yaml"
    path.write_text("name: flan\ngroup_by: task\ncap: 100\nweights:\n  gsm8k: 0.3\nstatuses: [approved, pending]\n")
    config = MixConfig.from_yaml(path)
    assert (config.cap, config.weights, config.statuses) == (100, {"gsm8k": 0.3}, ["approved", "pending"])
    path.write_text("name: a\n  cap: 3\n")
    with pytest.raises(ValueError, match="line 2"):
        MixConfig.from_yaml(path)
    path.write_text("cap: lots\n")
    with pytest.raises(ValueError, match="cap must be a number; got 'lots'"):
        MixConfig.from_yaml(path)


def _members(n_groups: int = 3, per_group: int = 40) -> pd.DataFrame:
    ids = range(1, n_groups * per_group + 1)
    return pd.DataFrame(
        {
            "id": list(ids),
            "group": [f"g{(i - 1) // per_group}" for i in ids],
            "cot": [i % 4 == 0 for i in ids],
            "held": [(i - 1) // per_group == 2 and i % 2 == 0 for i in ids],
        }
    )


def test_sampling_is_deterministic_without_duplicates_and_repeats_only_past_one_epoch() -> None:
    members = _members()
    config = MixConfig(cap=10, total=60, seed=3)
    plan = mixture_export.plan_members(members, config)
    train, held = mixture_export.sample(members, plan)
    again, _ = mixture_export.sample(members, plan)
    assert train.equals(again)
    other, _ = mixture_export.sample(members, mixture_export.plan_members(members, MixConfig(cap=10, total=60, seed=4)))
    assert set(other["id"]) != set(train["id"])
    assert len(train) == 60 and not train["id"].duplicated().any()
    assert train.groupby("group").size().to_dict() == {"g0": 20, "g1": 20, "g2": 20}
    assert set(held["id"]).isdisjoint(train["id"])  # g2's held-cluster rows only in heldout
    big = mixture_export.sample(members, mixture_export.plan_members(members, MixConfig(total=400)))[0]
    assert big["id"].value_counts().max() == 4 and big["id"].value_counts().min() == 4


COT_ROW = "Tom has 3 * 4 = 12 apples. He eats 2, so 12 - 2 = 10 remain. So the answer is 10."


def _store_rows() -> list[dict]:
    rows = []
    for i in range(30):
        cluster = ["math", "nli", "qa"][i % 3]
        rows.append(
            {
                "instruction": f"Question {i}?",
                "output": COT_ROW if cluster == "math" else f"Plain answer {i}.",
                "task": f"{cluster}-{i % 2}",
                "task_cluster": cluster,
                "status": "approved" if i < 27 else ["pending", "duplicate", "rejected"][i - 27],
            }
        )
    return rows


def test_preview_counts_come_from_sql_and_match_the_export_plan(make_store) -> None:
    store = make_store(_store_rows())
    cot_tagging.tag_rows(store)
    config = MixConfig(group_by="task_cluster", cap=5, cot_share=0.5, heldout_clusters=["qa"])
    plan = mixture.preview(store, config)
    assert plan.groups[["group", "before", "heldout", "after"]].values.tolist() == [
        ["math", 9, 0, 5],
        ["nli", 9, 0, 5],
        ["qa", 0, 9, 0],
    ]
    members = mixture_export.plan_members(
        mixture.mixture_store.member_ids(store, "task_cluster", config.example_filter(), config.heldout_rule()), config
    )
    assert members.parts.equals(plan.parts)


def test_export_snapshot_is_reproducible_and_leaks_no_heldout_cluster(make_store, tmp_path: Path) -> None:
    store = make_store(_store_rows())
    cot_tagging.tag_rows(store)
    revisions.update_example(store, 2, {"output": "Edited."}, expected_version=1, author="t")
    config = MixConfig(name="m1", group_by="task", total=40, heldout_clusters=["qa"], cot_format="direct", seed=9)
    folder = mixture_export.export(store, config, tmp_path)
    train, heldout, manifest = snapshot.load_snapshot(folder)
    assert len(train) == 40 and set(heldout["task_cluster"]) == {"qa"} and "qa" not in set(train["task_cluster"])
    assert set(train["id"]) <= set(range(1, 28)) and not ({28, 29, 30} & set(heldout["id"]))  # statuses
    assert set(train.loc[train["cot"], "output"]) == {"10"}  # direct format: final answer only
    converted = manifest["cot_conversion"]["direct"]["converted"]
    assert converted == int(train["cot"].sum()) + int(heldout["cot"].sum())
    assert train.loc[train["id"] == 2, "revision"].max() > 0
    # row 1 was never edited: its only revisions are the CoT auto tag (an action since the threshold is one)
    history = revisions.history(store, 1)
    assert set(history["action"]) <= {"cot-threshold"}
    assert train.loc[train["id"] == 1, "revision"].max() == (history["revision_id"].max() if len(history) else 0)
    assert manifest["rule"] == "examples-proportional + total(40)" and manifest["seed"] == 9
    assert {g["group"] for g in manifest["groups"]} == {"math-0", "math-1", "nli-0", "nli-1", "qa-0", "qa-1"}
    again = mixture_export.export(store, config, tmp_path / "other")
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == {p.name: p.read_bytes() for p in again.iterdir()}
    revisions.update_example(store, 4, {"output": "Changed."}, expected_version=1, author="t")
    changed = mixture_export.export(store, config, tmp_path)
    assert (
        changed != folder
        and json.loads((changed / "manifest.json").read_text())["content_hash"]
        != json.loads((folder / "manifest.json").read_text())["content_hash"]
    )
