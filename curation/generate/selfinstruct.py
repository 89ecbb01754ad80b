"""Self-Instruct, stage by stage: the task pool, prompts, parsing the model's answers and every filter.

Pure functions over text; the job that drives a model and writes to the store is `selfinstruct_job`.
Each filter returns a drop reason (one of DROP_REASONS) so nothing is lost silently.
"""

from __future__ import annotations

import random
import re
import string
from collections.abc import Sequence
from dataclasses import dataclass, field

from curation.filters import ExampleFilter
from curation.store import Store, examples

LIST_HEADER = "Come up with a series of tasks:"
BLACKLIST = ("image", "images", "graph", "graphs", "picture", "pictures", "file", "files", "map", "maps", "draw")
BLACKLIST += ("plot", "go to")
ALPACA_EXTRA = ("video", "audio", "music", "flowchart", "diagram")
BLACKLISTS = {"selfinstruct": BLACKLIST, "alpaca": BLACKLIST + ALPACA_EXTRA}
INSTRUCTION_REASONS = (
    "truncated",
    "too_short",
    "too_long",
    "blacklist",
    "write_a_program",
    "starts_with_punctuation",
    "starts_with_non_ascii",
    "repeated",
    "rouge_similar",
    "no_valid_instances",
    "not_needed",
)
INSTANCE_REASONS = (
    "truncated",
    "empty_output",
    "input_equals_output",
    "ends_with_colon",
    "conflicting_outputs",
    "duplicate_instance",
    "too_many_instances",
)
DROP_REASONS = tuple(dict.fromkeys(INSTRUCTION_REASONS + INSTANCE_REASONS))


@dataclass(frozen=True)
class GenerationConfig:
    """Every knob of a Self-Instruct run, with the paper's defaults."""

    n_instructions: int = 20
    prompt_seeds: int = 6
    prompt_machine: int = 2
    item_limit: int = 15
    max_prompts: int | None = None
    rouge_threshold: float = 0.7
    min_words: int = 4
    max_words: int = 150
    blacklist: tuple[str, ...] = BLACKLIST
    max_instances: int = 5
    temperature: float = 0.7
    top_p: float = 0.5
    max_tokens: int = 512
    instance_temperature: float = 0.0
    instance_top_p: float = 1.0
    instance_max_tokens: int = 300
    presence_penalty: float = 2.0
    instance_presence_penalty: float = 1.5
    capitalize: bool = True
    keep_truncated_prefix: bool = False
    instance_sampling: str = "random"
    prompt_batch: int = 16
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_instructions < 1:
            raise ValueError(f"n_instructions must be >= 1; got {self.n_instructions}")
        if not 0 < self.rouge_threshold <= 1:
            raise ValueError(f"rouge_threshold must be in (0, 1]; got {self.rouge_threshold}")
        if self.item_limit <= self.prompt_seeds + self.prompt_machine:
            raise ValueError(f"item_limit must exceed the {self.prompt_seeds + self.prompt_machine} tasks shown")
        if self.instance_sampling not in ("random", "first"):
            raise ValueError(f"instance_sampling must be random or first; got {self.instance_sampling!r}")
        if self.prompt_batch < 1:
            raise ValueError(f"prompt_batch must be >= 1; got {self.prompt_batch}")
        if not 0 <= self.temperature <= 2 or not 0 < self.top_p <= 1:
            raise ValueError(f"temperature must be in [0, 2] and top_p in (0, 1]; got {self.temperature}, {self.top_p}")

    @property
    def prompt_budget(self) -> int:
        """Most prompts a run sends before giving up (the model may keep producing rejects)."""
        return self.max_prompts or 4 * self.n_instructions + 10


# -- pool ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PoolTask:
    """One instruction in the sampling pool: a human seed or an accepted machine task."""

    example_id: int | None
    instruction: str
    kind: str  # "seed" | "machine"


@dataclass
class Pool:
    seeds: list[PoolTask] = field(default_factory=list)
    machine: list[PoolTask] = field(default_factory=list)

    def instructions(self) -> list[str]:
        return [t.instruction for t in self.seeds + self.machine]


def load_pool(store: Store) -> Pool:
    """Seeds and accepted generated tasks (pending or approved), current text; rejected rows stay out."""
    live = ["pending", "approved"]

    def tasks(origin: str, kind: str) -> list[PoolTask]:
        frame = examples.fetch(store, ExampleFilter(origins=[origin], statuses=live), ("id", "instruction"))
        frame = frame.drop_duplicates("instruction")
        return [PoolTask(int(i), str(t), kind) for i, t in zip(frame["id"], frame["instruction"], strict=True)]

    pool = Pool(tasks("seed", "seed"), tasks("generated", "machine"))
    if not pool.seeds:
        raise ValueError(
            "the pool has no seed tasks; import the Self-Instruct seed file first "
            "(python -m curation import seed_tasks.jsonl --format selfinstruct-seed)"
        )
    return pool


# -- instruction generation ----------------------------------------------------------------------
def sample_prompt_tasks(pool: Pool, rng: random.Random, cfg: GenerationConfig) -> list[PoolTask]:
    """`prompt_machine` machine tasks when the pool has them, the rest human seeds, shuffled."""
    machine = rng.sample(pool.machine, min(cfg.prompt_machine, len(pool.machine)))
    wanted = cfg.prompt_seeds + cfg.prompt_machine - len(machine)
    chosen = rng.sample(pool.seeds, min(wanted, len(pool.seeds))) + machine
    rng.shuffle(chosen)
    return chosen


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def instruction_prompt(tasks: Sequence[PoolTask]) -> str:
    """The numbered list after "Come up with a series of tasks:", ending with the next number for the model."""
    lines = [LIST_HEADER] + [f"{i}. {_one_line(t.instruction).rstrip(':')}" for i, t in enumerate(tasks, start=1)]
    return "\n".join(lines) + f"\n{len(tasks) + 1}."


def list_stops(cfg: GenerationConfig) -> list[str]:
    """Stop at the first blank line or once the model starts the item after the limit."""
    return ["\n\n", f"\n{cfg.item_limit + 1}.", f"\n{cfg.item_limit + 1} ."]


_ITEM_SPLIT = re.compile(r"\n\d+\s*\.")


def parse_task_list(continuation: str, first_number: int, item_limit: int) -> list[str]:
    """New items from the model's continuation of the list, split on every "\\n<number>." as the original does
    (whatever the numbers), up to the first blank line and `item_limit` items in the whole list."""
    text = re.split(r"\n[ \t]*\n", continuation, maxsplit=1)[0]
    text = re.sub(rf"^\s*{first_number}\s*\.", "", text)  # chat models often repeat the number they were given
    items = [_one_line(part) for part in _ITEM_SPLIT.split(text)]
    return [t for t in items if t][: max(0, item_limit - first_number + 1)]


def normalise_instruction(text: str, cfg: GenerationConfig) -> str:
    """The original's `str.capitalize()` (which also lowercases the rest) unless `cfg.capitalize` is off."""
    return text.capitalize() if cfg.capitalize else text


def _has_word(word: str, text: str) -> bool:
    return re.search(rf"\b{re.escape(word)}\b", text, flags=re.IGNORECASE) is not None


def instruction_drop_reason(text: str, cfg: GenerationConfig) -> tuple[str, str] | None:
    """(reason, detail) when a candidate instruction breaks a rule (all but ROUGE-L), else None."""
    words = len(text.split())
    if words < cfg.min_words:
        return "too_short", f"{words} words (needs more than {cfg.min_words - 1})"
    if words > cfg.max_words:
        return "too_long", f"{words} words (at most {cfg.max_words})"
    if hit := next((w for w in cfg.blacklist if _has_word(w, text)), None):
        return "blacklist", hit
    if text.capitalize().startswith("Write a program"):
        return "write_a_program", "starts with 'Write a program'"
    if text[0] in string.punctuation:
        return "starts_with_punctuation", text[0]
    if not text[0].isascii():
        return "starts_with_non_ascii", text[0]
    return None


# -- classification identification ---------------------------------------------------------------
CLASSIFY_HEADER = "Can the following task be regarded as a classification task with finite output labels?"
CLASSIFY_SHOTS = (
    ("Tell me whether the given number is prime or composite.", "Yes"),
    ("Write a short thank-you note to a colleague who helped you move house.", "No"),
    ("Decide if the email below is spam or not spam.", "Yes"),
    ("Suggest three names for a bakery that only sells bread.", "No"),
    ("Which of the two sentences is grammatically correct?", "Yes"),
    ("Explain how a rainbow forms.", "No"),
    ("Label each animal in the list as a mammal, a bird or a reptile.", "Yes"),
    ("Rewrite the paragraph in simpler language for a child.", "No"),
    ("Does the following review recommend the restaurant? Answer yes or no.", "Yes"),
    ("Give me a recipe that uses leftover rice.", "No"),
)


def classification_prompt(instruction: str) -> str:
    """Few-shot "is it a classification task?" prompt; the model answers Yes or No."""
    shots = [f"Task: {t}\nIs it classification? {a}" for t, a in CLASSIFY_SHOTS]
    return "\n\n".join([CLASSIFY_HEADER, *shots, f"Task: {_one_line(instruction)}\nIs it classification?"])


def parse_yes_no(text: str) -> bool | None:
    """True for an answer starting with yes, False for no, None when it says neither."""
    word = (re.findall(r"[a-z]+", text.lower()) or [""])[0]
    return True if word == "yes" else False if word == "no" else None


# -- instance generation -------------------------------------------------------------------------
INPUT_FIRST_HEADER = (
    "Come up with examples for the following tasks. Try to generate multiple examples when possible. "
    "If the task doesn't require additional input, you can generate the output directly."
)
INPUT_FIRST_SHOTS = (
    (
        "Convert the temperature from Celsius to Fahrenheit.",
        (("25 degrees Celsius", "77 degrees Fahrenheit"), ("-10 degrees Celsius", "14 degrees Fahrenheit")),
    ),
    (
        "Give three tips for falling asleep faster.",
        (("", "1. Keep a regular bedtime. 2. Avoid screens for an hour before bed. 3. Keep the room cool."),),
    ),
    ("Find the main verb in the sentence.", (("The children quickly ran across the playground.", "ran"),)),
)
OUTPUT_FIRST_HEADER = (
    "Given the classification task definition and the class labels, generate an input that corresponds to "
    "each of the class labels. If the task doesn't require input, just generate the correct class label."
)
OUTPUT_FIRST_SHOTS = (
    (
        "Decide whether the statement about the product is positive, negative or neutral.",
        (
            ("positive", "Statement: The blender crushes ice in seconds."),
            ("negative", "Statement: The lid cracked after one week."),
            ("neutral", "Statement: The blender comes in three colours."),
        ),
    ),
    ("Tell me whether the number is even or odd.", (("even", "Number: 48"), ("odd", "Number: 17"))),
)
INSTANCE_STOPS = ("\nTask:", "\n\nTask")


def input_first_prompt(instruction: str) -> str:
    """Instance prompt for non-classification tasks: input, then output."""
    blocks = [INPUT_FIRST_HEADER]
    for task, pairs in INPUT_FIRST_SHOTS:
        lines = [f"Task: {task}"]
        for n, (inp, out) in enumerate(pairs, start=1):
            lines += [f"Example {n}"] + ([f"Input: {inp}"] if inp else []) + [f"Output: {out}"]
        blocks.append("\n".join(lines))
    blocks.append(f"Task: {_one_line(instruction)}\nExample 1")
    return "\n\n".join(blocks)


def output_first_prompt(instruction: str) -> str:
    """Instance prompt for classification tasks: the class label first, then an input for it."""
    blocks = [OUTPUT_FIRST_HEADER]
    for task, pairs in OUTPUT_FIRST_SHOTS:
        blocks.append("\n".join([f"Task: {task}"] + [f"Class label: {lab}\n{inp}" for lab, inp in pairs]))
    blocks.append(f"Task: {_one_line(instruction)}\nClass label:")
    return "\n\n".join(blocks)


def _split_output(chunk: str) -> tuple[str, str]:
    parts = re.split(r"Output\s*\d*\s*:", chunk, maxsplit=1)
    inp, out = (parts[0], parts[1]) if len(parts) == 2 else ("", parts[0])
    out = re.split(r"\n\s*Input\s*\d*\s*:", out, maxsplit=1)[0]
    return re.sub(r"^\s*Input\s*\d*\s*:", "", inp).strip(), out.strip()


def parse_input_first(continuation: str) -> list[tuple[str, str]]:
    """(input, output) pairs from an input-first answer ("Example n / Input: / Output:")."""
    chunks = re.split(r"Example\s+\d+\s*\.?", "Example 1" + continuation)
    return [_split_output(c) for c in chunks if c.strip()]


def parse_output_first(continuation: str) -> list[tuple[str, str]]:
    """(input, output) pairs from an output-first answer: each "Class label: X" line, then its input."""
    pairs = []
    for chunk in ("Class label:" + continuation).split("Class label:")[1:]:
        label, _, inp = chunk.strip().partition("\n")
        pairs.append((inp.strip(), label.strip()))
    return pairs


def _invalid_reason(inp: str, out: str) -> str | None:
    if inp == out:
        return "input_equals_output"
    if not out:
        return "empty_output"
    if inp.endswith(":") or out.endswith(":"):
        return "ends_with_colon"
    return None


def filter_instances(
    pairs: Sequence[tuple[str, str]], max_instances: int, rng: random.Random | None = None
) -> tuple[list[tuple[str, str]], list[tuple[tuple[str, str], str]]]:
    """(kept pairs, [(pair, reason)]) as the original: invalid pairs out first; then any two valid pairs with the
    same non-empty input and different outputs drop every pair; duplicates out; then `max_instances` at random
    (`rng`) or, without one, the first."""
    dropped: list[tuple[tuple[str, str], str]] = []
    valid: list[tuple[str, str]] = []
    for pair in pairs:
        if reason := _invalid_reason(pair[0].strip(), pair[1].strip()):
            dropped.append((pair, reason))
        else:
            valid.append(pair)
    outputs: dict[str, set[str]] = {}
    for inp, out in valid:
        if inp.strip():
            outputs.setdefault(inp.strip(), set()).add(out.strip())
    if any(len(outs) > 1 for outs in outputs.values()):
        return [], dropped + [(pair, "conflicting_outputs") for pair in valid]
    unique: list[tuple[str, str]] = []
    for pair in valid:
        (dropped.append((pair, "duplicate_instance")) if pair in unique else unique.append(pair))
    chosen = set(rng.sample(range(len(unique)), max_instances)) if rng and len(unique) > max_instances else None
    kept = []
    for position, pair in enumerate(unique):
        wanted = position in chosen if chosen is not None else len(kept) < max_instances
        (kept.append(pair) if wanted else dropped.append((pair, "too_many_instances")))
    return kept, dropped
