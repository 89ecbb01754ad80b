"""Write the project's own sample data (data/sample/*), deterministically: `python data/sample/make_sample.py`.

Every text here is written by this script (small hand-made word lists and computed answers); nothing is
copied from any corpus. The files cover every import format and origin, several statuses, tags, tasks,
task clusters, formats and a few chain-of-thought rows. `curation.io.sample_data` imports them into an empty
database.
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
rng = random.Random(20240611)

ANTONYMS = [
    ("hot", "cold"), ("early", "late"), ("generous", "stingy"), ("ancient", "modern"), ("brave", "cowardly"),
    ("narrow", "wide"), ("shallow", "deep"), ("rough", "smooth"), ("tidy", "messy"), ("fragile", "sturdy"),
    ("expand", "contract"), ("accept", "refuse"), ("arrive", "depart"), ("visible", "hidden"), ("loud", "quiet"),
    ("heavy", "light"), ("rare", "common"), ("victory", "defeat"), ("include", "exclude"), ("increase", "decrease"),
]  # fmt: skip
CAPITALS = [
    ("France", "Paris"), ("Japan", "Tokyo"), ("Italy", "Rome"), ("Spain", "Madrid"), ("Germany", "Berlin"),
    ("Canada", "Ottawa"), ("Australia", "Canberra"), ("Egypt", "Cairo"), ("Kenya", "Nairobi"), ("Norway", "Oslo"),
    ("Portugal", "Lisbon"), ("Greece", "Athens"), ("Peru", "Lima"), ("India", "New Delhi"), ("Brazil", "Brasília"),
]  # fmt: skip
REVIEWS = [
    ("The battery lasts all day and the screen is bright even outdoors.", "positive"),
    ("It stopped working after two weeks and support never answered.", "negative"),
    ("Friendly staff, quick service, and the soup was still hot when it arrived.", "positive"),
    ("The instructions were missing half the steps, so assembly took hours.", "negative"),
    ("I have worn these boots through three winters and they still keep my feet dry.", "positive"),
    ("The room smelled of smoke and the heater rattled all night.", "negative"),
    ("A gripping story with characters I kept thinking about for days.", "positive"),
    ("The app crashes every time I try to upload a photo.", "negative"),
    ("Setup took five minutes and the sound quality surprised me.", "positive"),
    ("The colour in the photos looked nothing like the shirt I received.", "negative"),
    ("Our guide knew every bird by its call; the best morning of the trip.", "positive"),
    ("Two of the six glasses arrived cracked and the box was barely padded.", "negative"),
]
PAST_TENSE = [
    ("She walks to the market every morning.", "She walked to the market every morning."),
    ("They build a treehouse in the garden.", "They built a treehouse in the garden."),
    ("I write a letter to my grandmother.", "I wrote a letter to my grandmother."),
    ("The river floods the lower fields.", "The river flooded the lower fields."),
    ("We sing in the school choir.", "We sang in the school choir."),
    ("He catches the last train home.", "He caught the last train home."),
    ("The cat sleeps on the warm windowsill.", "The cat slept on the warm windowsill."),
    ("You bring the dessert to the party.", "You brought the dessert to the party."),
]
WORDS = ["planet", "library", "orchestra", "umbrella", "avocado", "telescope", "harbour", "meadow", "puzzle", "lantern"]


def alpaca_rows() -> list[dict]:
    """General imported rows in Alpaca form, with tags and a few reviewed statuses."""
    rows: list[dict] = []
    for word, opposite in ANTONYMS:
        rows.append(
            {"instruction": f'Give the opposite of the word "{word}".', "input": "", "output": opposite.capitalize()}
            | {"tags": ["vocabulary"]}
        )
    for country, capital in CAPITALS:
        rows.append(
            {"instruction": f"What is the capital of {country}?", "input": "", "output": f"{capital}."}
            | {"tags": ["geography", "factual"]}
        )
    for text, label in REVIEWS:
        rows.append(
            {
                "instruction": "Classify the sentiment of this review as positive or negative.",
                "input": text,
                "output": label.capitalize(),
                "tags": ["classification", "sentiment"],
            }
        )
    for present, past in PAST_TENSE:
        rows.append({"instruction": "Rewrite the sentence in the past tense.", "input": present, "output": past})
    for celsius in range(-10, 45, 5):
        fahrenheit = celsius * 9 / 5 + 32
        rows.append(
            {
                "instruction": f"Convert {celsius} degrees Celsius to Fahrenheit.",
                "input": "",
                "output": f"{celsius} °C is {fahrenheit:g} °F (multiply by 9/5, then add 32).",
                "tags": ["math", "units"],
            }
        )
    for _ in range(25):
        numbers = rng.sample(range(1, 100), 6)
        rows.append(
            {
                "instruction": "Sort these numbers in ascending order.",
                "input": ", ".join(map(str, numbers)),
                "output": ", ".join(map(str, sorted(numbers))),
                "tags": ["math"],
            }
        )
    for word in WORDS:
        vowels = sum(ch in "aeiou" for ch in word)
        rows.append(
            {
                "instruction": "Count the vowels in the following word.",
                "input": word,
                "output": f'"{word}" has {vowels} vowels.',
            }
        )
        rows.append({"instruction": "Spell the word backwards.", "input": word, "output": word[::-1]})
    rows += _tricky_rows()
    for index, row in enumerate(rows):
        row["status"] = "approved" if index % 7 == 0 else "rejected" if index % 23 == 5 else "pending"
        if row["status"] == "rejected":
            row["status_reason"] = "answer too short to be useful"
    return rows


def _tricky_rows() -> list[dict]:
    """Rows whose text looks like markup or SQL patterns: the app must show them as plain text."""
    return [
        {
            "instruction": "Explain what this HTML does: <b>bold</b> <script>alert('hi')</script>",
            "input": "",
            "output": "<b> makes text bold; <script> runs JavaScript. Never render untrusted HTML.",
            "tags": ["markup"],
        },
        {
            "instruction": "Format the following as a **Markdown** list: apples, pears, plums",
            "input": "",
            "output": "- apples\n- pears\n- plums",
            "tags": ["markup"],
        },
        {
            "instruction": "What does 100% mean in the phrase 50_percent_off?",
            "input": "",
            "output": "100% means the whole amount; 50_percent_off is a file-name style label for half price.",
            "tags": ["markup"],
        },
    ]


def seed_tasks() -> list[dict]:
    """Self-Instruct style seed tasks with instances and is_classification."""
    tasks = [
        ("synonym_pick", "Choose the word that means the same as the given word.", True,
         [("Word: rapid\nOptions: slow, quick, heavy", "quick"), ("Word: begin\nOptions: start, end, wait", "start")]),
        ("odd_one_out", "Find the word that does not belong with the others.", True,
         [("apple, banana, carrot, mango", "carrot"), ("violin, cello, trumpet, viola", "trumpet")]),
        ("fact_or_opinion", "Decide whether the statement is a fact or an opinion.", True,
         [("Water boils at 100 °C at sea level.", "Fact"), ("Summer is the best season.", "Opinion")]),
        ("even_or_odd", "Tell whether the number is even or odd.", True, [("42", "Even"), ("17", "Odd")]),
        ("packing_list", "Suggest a short packing list for the trip described.", False,
         [("A weekend of hiking in the mountains in autumn.",
           "Waterproof jacket, warm layers, hiking boots, a map, a water bottle, snacks and a small first-aid kit.")]),
        ("polite_rewrite", "Rewrite the message so it sounds more polite.", False,
         [("Send me the report now.", "Could you please send me the report when you have a moment?")]),
        ("title_for_story", "Write a short title for the story.", False,
         [("A lighthouse keeper finds a message in a bottle that was written by his grandfather.",
           "The Keeper's Letter")]),
        ("recipe_step", "Explain the next step of the recipe.", False,
         [("I have mixed flour, sugar and butter into crumbs.",
           "Add the beaten egg and milk, then stir gently until a soft dough forms.")]),
        ("explain_to_child", "Explain the idea to a seven-year-old in two sentences.", False,
         [("Why do we have seasons?",
           "The Earth is tilted, so for part of the year your home leans toward the Sun and gets more warmth. "
           "When it leans away, days are shorter and colder, and that is winter.")]),
        ("email_subject", "Write a clear subject line for the email.", False,
         [("Hi team, the Friday meeting moves to 3 pm because the room is booked in the morning.",
           "Friday meeting moved to 3 pm")]),
        ("unit_choice", "Which unit would you use to measure the item? Answer with one unit.", True,
         [("The length of a football pitch", "Metres"), ("The weight of a letter", "Grams")]),
        ("question_type", "Is the question asking about a person, a place or a time?", True,
         [("Where was the treaty signed?", "A place"), ("When did the museum open?", "A time")]),
    ]  # fmt: skip
    rows = []
    for index, (name, instruction, is_cls, instances) in enumerate(tasks):
        rows.append(
            {
                "id": f"sample_seed_{index}",
                "name": name,
                "instruction": instruction,
                "instances": [{"input": i, "output": o} for i, o in instances],
                "is_classification": is_cls,
                "status": "approved",
            }
        )
    return rows


def templated_rows() -> list[dict]:
    """Rows rendered from instruction templates (zero-shot and few-shot), with task and cluster."""
    rows = []
    for _ in range(20):
        a, b = rng.randint(12, 99), rng.randint(12, 99)
        rows.append(
            {
                "instruction": f"Add {a} and {b}.",
                "output": str(a + b),
                "task": "addition",
                "task_cluster": "arithmetic",
                "template_id": "arith-add-v1",
                "format": "zero-shot",
            }
        )
    for _ in range(20):
        a, b = rng.randint(50, 200), rng.randint(1, 49)
        rows.append(
            {
                "instruction": f"Subtract {b} from {a}.",
                "output": str(a - b),
                "task": "subtraction",
                "task_cluster": "arithmetic",
                "template_id": "arith-sub-v1",
                "format": "zero-shot",
            }
        )
    for _ in range(15):
        a, b = rng.randint(3, 15), rng.randint(3, 15)
        shots = "2 times 3 is 6.\n4 times 5 is 20.\n"
        rows.append(
            {
                "instruction": "Multiply the numbers, following the examples.",
                "input": f"{shots}{a} times {b} is",
                "output": str(a * b),
                "task": "multiplication",
                "task_cluster": "arithmetic",
                "template_id": "arith-mul-fewshot-v1",
                "format": "few-shot",
            }
        )
    for country, capital in CAPITALS:
        rows.append(
            {
                "instruction": f"Name the country whose capital city is {capital}.",
                "output": country,
                "task": "reverse_capital",
                "task_cluster": "geography",
                "template_id": "geo-capital-v2",
                "format": "zero-shot",
            }
        )
    for word, opposite in ANTONYMS[:12]:
        rows.append(
            {
                "instruction": f'Is "{opposite}" an antonym of "{word}"? Answer yes or no.',
                "output": "Yes",
                "task": "antonym_check",
                "task_cluster": "vocabulary",
                "template_id": "vocab-antonym-yn-v1",
                "format": "zero-shot",
                "tags": ["classification"],
            }
        )
    for index, row in enumerate(rows):
        row["status"] = ("pending", "approved", "pending", "rejected")[index % 4]
        if row["status"] == "rejected":
            row["status_reason"] = "template produced a trivial question"
    return rows


def generated_rows() -> list[dict]:
    """Rows a model proposed from seed tasks, with provenance (prompting seeds, filter scores)."""
    proposals = [
        ("List three ways to save water at home.", "",
         "Take shorter showers, fix dripping taps, and run the dishwasher only when it is full."),
        ("Suggest a name for a bakery that sells only bread.", "", "Crumb & Crust"),
        ("Turn the sentence into a question.", "The bus leaves at noon.", "Does the bus leave at noon?"),
        ("Give an example of a renewable energy source.", "", "Wind power."),
        ("Describe a rainy day in one sentence.", "",
         "Grey clouds hung low while rain drummed steadily on the rooftops."),
        ("Classify the animal as a mammal, bird or reptile.", "Penguin", "Bird"),
        ("Classify the animal as a mammal, bird or reptile.", "Gecko", "Reptile"),
        ("Classify the animal as a mammal, bird or reptile.", "Dolphin", "Mammal"),
        ("Write a haiku about autumn leaves.", "",
         "Red leaves drift and spin\nthe cold wind hums through bare oaks\nthe path turns to gold"),
        ("Summarise the paragraph in one sentence.",
         "The town library opened a repair café where volunteers fix toasters, lamps and bicycles for free. "
         "It runs on the first Saturday of every month.",
         "Once a month the library hosts a free repair café run by volunteers."),
        ("Give two tips for learning a new language.", "",
         "Practise a little every day, and speak with native speakers as early as you can."),
        ("What is the plural of the word?", "mouse", "Mice"),
        ("What is the plural of the word?", "cactus", "Cacti (or cactuses)"),
        ("Explain why the sky looks blue.", "",
         "Air molecules scatter short blue wavelengths of sunlight much more than red ones, "
         "so blue light reaches our eyes from every direction."),
        ("Recommend a board game for a family with young children.", "",
         "A cooperative game such as a simple memory-matching game works well: everyone plays together."),
        ("Convert the time to the 24-hour clock.", "7:45 pm", "19:45"),
        ("Convert the time to the 24-hour clock.", "11:05 am", "11:05"),
        ("Write an encouraging message for a friend before an exam.", "",
         "You have prepared well. Take a deep breath, read each question carefully, and trust yourself."),
        ("Name a fruit that is yellow.", "", "Banana."),
        ("Name a fruit that is yellow.", "", "A banana."),
    ]  # fmt: skip
    rows = []
    for index, (instruction, inp, out) in enumerate(proposals):
        seeds = sorted(rng.sample(range(12), 3))
        rows.append(
            {
                "instruction": instruction,
                "input": inp,
                "output": out,
                "task": "self_instruct",
                "task_cluster": "open_generation",
                "provenance": {
                    "method": "self-instruct",
                    "seed_ids": [f"sample_seed_{s}" for s in seeds],
                    "model": "SmolLM2-135M-Instruct",
                    "rouge_l_max": round(rng.uniform(0.18, 0.69), 3),
                },
                "status": ("pending", "pending", "approved", "rejected")[index % 4],
            }
        )
    rows[-1]["status"] = "duplicate"
    rows[-1]["status_reason"] = "near-duplicate of the previous generated row"
    for row in rows:
        if row["status"] == "rejected":
            row["status_reason"] = "low quality: vague or unverifiable answer"
    return rows


def conversations() -> list[dict]:
    """Multi-turn chats: OpenAI `messages` and ShareGPT `conversations` records."""
    chats = [
        [("user", "How long should I boil an egg for a runny yolk?"),
         ("assistant", "About six minutes in boiling water, then cool it under cold water."),
         ("user", "And for a hard yolk?"), ("assistant", "Ten to eleven minutes.")],
        [("system", "You are a concise travel assistant."), ("user", "What should I pack for a beach day?"),
         ("assistant", "Sunscreen, a hat, water, a towel and a book.")],
        [("user", "Can you suggest a name for a grey kitten?"), ("assistant", "How about Pebble or Smoke?"),
         ("user", "Something longer?"), ("assistant", "Sir Whiskers of Ashford.")],
        [("user", "What is 15% of 80?"), ("assistant", "15% of 80 is 12.")],
        [("user", "Translate 'good morning' into Spanish."), ("assistant", "Buenos días.")],
        [("user", "Give me a two-line poem about the sea."),
         ("assistant", "The tide writes letters on the sand,\nand takes them back with a careful hand.")],
    ]  # fmt: skip
    records = []
    for index, chat in enumerate(chats):
        if index % 2 == 0:
            records.append({"id": f"chat-{index}", "messages": [{"role": r, "content": c} for r, c in chat]})
        else:
            speaker = {"user": "human", "assistant": "gpt", "system": "system"}
            records.append({"id": f"chat-{index}", "conversations": [{"from": speaker[r], "value": c} for r, c in chat]})
    return records


def cot_rows() -> list[list[str]]:
    """FLAN-style CoT TSV rows (question, answer, rationale) with literal \\n line breaks."""
    rows = []
    for _ in range(10):
        boxes, per_box, eaten = rng.randint(2, 6), rng.randint(4, 12), rng.randint(1, 5)
        total = boxes * per_box
        question = (
            f"Maya has {boxes} boxes with {per_box} crayons in each box. She gives away {eaten} crayons. "
            "How many crayons does she have left?"
        )
        rationale = f"She starts with {boxes} × {per_box} = {total} crayons.\\nAfter giving away {eaten}, {total} - {eaten} = {total - eaten}."
        rows.append([question, str(total - eaten), rationale])
    rows.append(
        [
            "Can a penguin fly to the top of a tree?",
            "no",
            "Penguins are birds, but their wings are flippers built for swimming.\\nThey cannot fly at all.",
        ]
    )
    rows.append(
        [
            "Is a week longer than 160 hours?",
            "yes",
            "A week has 7 days of 24 hours.\\n7 × 24 = 168, and 168 is more than 160.",
        ]
    )
    return rows


def csv_rows() -> list[dict]:
    """A spreadsheet export with its own column names (imported with a column mapping)."""
    rows = []
    for index, word in enumerate(WORDS):
        rows.append(
            {"prompt": f'Use the word "{word}" in a sentence.', "response": _sentence(word), "category": "sentence_use"}
        )
        rows.append(
            {
                "prompt": f'How many letters are in the word "{word}"?',
                "response": f"{len(word)} letters.",
                "category": "letter_count",
                "reviewer_note": "checked" if index % 2 else "",
            }
        )
    return rows


def _sentence(word: str) -> str:
    return {
        "planet": "Mars is the fourth planet from the Sun.",
        "library": "I borrowed three novels from the library.",
        "orchestra": "The orchestra tuned up before the concert.",
        "umbrella": "She opened her umbrella as the rain began.",
        "avocado": "He spread ripe avocado on his toast.",
        "telescope": "Through the telescope we could see Saturn's rings.",
        "harbour": "Fishing boats rocked gently in the harbour.",
        "meadow": "Wildflowers covered the meadow in June.",
        "puzzle": "The puzzle had a thousand tiny pieces.",
        "lantern": "A paper lantern glowed on the porch.",
    }[word]


def main() -> None:
    (HERE / "alpaca_general.json").write_text(json.dumps(alpaca_rows(), indent=1, ensure_ascii=False) + "\n")
    _jsonl(HERE / "seed_tasks.jsonl", seed_tasks())
    _jsonl(HERE / "templated.jsonl", templated_rows())
    _jsonl(HERE / "generated.jsonl", generated_rows())
    _jsonl(HERE / "conversations.jsonl", conversations())
    with (HERE / "cot_reasoning.tsv").open("w", encoding="utf-8", newline="") as handle:
        handle.writelines("\t".join(row) + "\n" for row in cot_rows())
    with (HERE / "spreadsheet.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["prompt", "response", "category", "reviewer_note"])
        writer.writeheader()
        writer.writerows(csv_rows())


def _jsonl(path: Path, records: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")


if __name__ == "__main__":
    main()
