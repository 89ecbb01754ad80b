"""Chain-of-thought detection: a score plus the signals that fired, for a row, a turn or a conversation.

The score is a logistic model over the fired signals whose weights were learned on public data (`learned.py`,
`weights.json`, fitted by `bench/cot_learn.py`); `rule_score` keeps the hand-set combination it started from,
a noisy-OR: score = 1 - prod(1 - weight). In the rules, strong signals (a
rationale ending in "the answer is X", an answer followed by "Explanation:", a CoT trigger phrase) pass the
default threshold alone; weak ones (a conclusion sentence, arithmetic chains, step markers, connectives, a
short final answer after prose) only together, so an essay or a plain list is not mistaken for CoT.
Style-independent reasoning moves and the penalties (code, how-to steps, dialogue, letters, writing tasks:
the score is multiplied by 1 - factor) live in `signals`; a <think> block or reasoning_content trace is
strong evidence by itself, and a conversation scores as its best assistant turn.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from curation.cot import learned
from curation.cot.signals import PENALTIES, TASK_VERB, reasoning_signals
from curation.cot.signals import penalties as penalties

DEFAULT_THRESHOLD = 0.5
# Signal weights; "<name>/<variant>" is a weaker or stronger form of the same signal.
WEIGHTS: dict[str, float] = {
    "trigger_phrase": 0.6,
    "answer_marker": 0.7,  # a rationale of 5+ words, then "the answer is X"
    "answer_marker/short_rationale": 0.45,
    "answer_marker/no_rationale": 0.15,  # "The answer is 4." alone, or after a quiz question
    "answer_then_explanation": 0.7,  # "X. Explanation: ..." or a short "X. Because ..."
    "answer_then_explanation/long_answer": 0.4,  # a full sentence, then "This is because ..."
    "reasoning_opener": 0.3,
    "conclusion_sentence": 0.3,
    "arithmetic_chain": 0.35,
    "arithmetic_chain/single": 0.15,
    "arithmetic_chain/worked": 0.5,  # two or more equations inside prose sentences
    "step_markers": 0.2,
    "reasoning_connectives": 0.15,
    "short_final_answer": 0.3,
    "short_final_answer/canonical": 0.5,  # yes/no/number/option after prose, for a question
    "answer_from_options": 0.35,
    "reasoning_trace": 0.9,  # a non-empty <think> block or reasoning_content field
}

# What each signal means, for the CoT page and `cot explain` (penalties lower the score instead of raising it).
SIGNAL_HELP: dict[str, str] = {
    "trigger_phrase": "a chain-of-thought request or opener ('Let's think step by step', 'explain your reasoning')",
    "answer_marker": "rationale, then an answer marker ('So the answer is X', 'Final answer:', '####', '\\boxed{}')",
    "answer_then_explanation": "a short answer followed by its explanation ('Yes. Explanation: ...')",
    "reasoning_opener": "the output opens like a derivation ('Let's solve', 'First, we', 'We know')",
    "conclusion_sentence": "the last sentence draws a conclusion ('Therefore, ...', 'So ...')",
    "arithmetic_chain": "worked arithmetic (equations with results), strongest inside prose sentences",
    "step_markers": "sequencing words or numbered steps",
    "reasoning_connectives": "several sentences joined by because / so / therefore / since",
    "short_final_answer": "a short final answer (yes/no/number/option) after reasoning sentences",
    "answer_from_options": "the final answer is one of the options listed in the prompt",
    "reasoning_trace": "a non-empty <think> block or reasoning_content field",
    "problem_reference": "talks about the question or its options ('this question', 'option (B)', 'rules out')",
    "we_reasoning": "first-person-plural reasoning moves ('we know', 'let's evaluate', 'we get')",
    "inference_chain": "two or more sentences that infer (so, therefore, because, must be, which means)",
    "symbolic_equations": "two or more equations, symbolic or numeric ('Z = A and B', 'x = 10')",
    "conditional_inference": "an if-then step or a supposition",
    "back_reference": "refers back to earlier steps ('from (1)', 'combining (2) and (3)')",
    "enumerated_derivation": "three or more enumerated lines '(1) ...' or '1: ...' (a derivation or state log)",
    "state_tracking": "tracks a changing state ('at the start', 'after the swap, Bob has')",
    "verdict_after_reasoning": "an explanation that ends in a verdict (plausible, valid, true, the correct choice)",
    "explains_closed_question": "a yes/no or which-of question answered by an explanation, not a bare yes/no",
    "restates_question": "the last sentence restates the question with its answer, after supporting facts",
    "chained_premises": "a conclusion built from two or more earlier sentences ('A is B. C is A. So C is B.')",
    "bridging_fact": "short facts about the question linked through a word the question does not name",
    "linked_premises": "premises linked sentence to sentence, for a question the first sentence does not restate",
    "computes_from_givens": "arithmetic on the question's own numbers, in operations the question does not spell out",
    "self_check": "a trace that checks itself ('Wait,', 'Let me double-check', 'Hmm,')",
    "code_trace": "follows a program's execution ('the loop runs 3 times', 'i goes 0 -> 2', 'evaluates to')",
    "code": "penalty: source code (fences or code lines)",
    "how_to_steps": "penalty: imperative how-to or recipe steps",
    "dialogue": "penalty: a dialogue or script with speaker labels",
    "letter": "penalty: a letter or e-mail",
    "writing_task": "penalty: the prompt asks for prose writing (essay, story, poem, email ...)",
}
_FEATURES = list(SIGNAL_HELP)  # learned-model feature order (weights.json names them; checked on load)
_TRIGGER = re.compile(
    r"let'?s think|let me think|think (?:it through )?step[- ]by[- ]step|think carefully (?:first|and then|before)|"
    r"step[- ]by[- ]step (?:reasoning|solution|thinking|thought)|"
    r"(?:explain|justify|show|give|provide|describe) (?:your|the) (?:reasoning|rationale|thought process|"
    r"steps of (?:your )?reasoning|chain of thought)(?! behind)|show (?:your|all) work(?:ing)?\b|"
    r"chain[- ]of[- ]thought|\bcot\s*:|stream of consciousness|reason(?:ing)? step[- ]by[- ]step|"
    r"(?:rationale|reasoning) (?:first|and (?:then )?(?:the )?answer)|(?:answer|respond) with (?:your )?reasoning|"
    r"solve (?:this|it|the problem) step[- ]by[- ]step|be accurate as possible|some random (?:thoughts|reasoning)",
    re.I,
)
_OPENER = re.compile(
    r"^(?:let'?s|let us) (?:think|solve|break|work|start|figure|reason|calculate|find|see)|^let me (?:think|see)|"
    r"^(?:first|to (?:solve|find|answer|determine) (?:this|the)),? (?:we|let'?s|i)\b|"
    r"^we (?:know|need|are given|have)\b",
    re.I,
)
_ANSWER = re.compile(
    r"(?:^|(?<=[\s.,;:!?(]))(?:(?:so|thus|therefore|hence|overall|in conclusion|in summary)\s*,?\s*)?"
    r"(?:the\s+|my\s+)?(?:final\s+|correct\s+|right\s+|best\s+)?answer\s*"
    r"(?:is|would be|will be|must be|should be|is therefore|:|-)\s*:?\s*(?P<answer>\S[^\n]*?)\s*\.?\s*$"
    r"|####\s*(?P<hash>\S[^\n]*?)\s*$",
    re.I,
)
_EXPLAINED = re.compile(
    r"^\s*(?:(?:final\s+)?answer\s*:\s*)?(?P<answer>[^\n]{1,80}?)\s*(?:[.!]\s+|\n+\s*)"
    r"(?P<marker>(?:explanation|reason(?:ing)?|rationale|justification|because)\s*:|this is because\b|"
    r"the reason is\b|because\b)\s*(?P<rationale>\S.*)$",
    re.I | re.S,
)
_CONCLUSION = re.compile(
    r"^(?:so|thus|therefore|hence|consequently|as a result|this means(?: that)?|that means|in total|altogether|"
    r"in conclusion|overall)\b[,:]?\s*(?P<rest>.+)$",
    re.I | re.S,
)
_NUM = r"\(?-?\$?\d[\d,]*(?:\.\d+)?%?\)?"
_TERM = rf"{_NUM}(?:\s?[a-zA-Z]{{1,12}}){{0,2}}"
_EQUATION = re.compile(
    rf"{_NUM}(?:\s?[a-zA-Z]{{1,12}}){{0,2}}\s*(?:[-+*/×÷^x]|times|plus|minus|divided by)\s*{_TERM}"
    rf"(?:\s*[-+*/×÷^x]\s*{_TERM})*\s*=\s*{_NUM}"
)
_STEP = re.compile(r"(?im)^\s*(?:step\s*\d+\b|\d+[.)]\s)|\b(?:first|second|then|next|finally)\b,")
_CONNECTIVE = re.compile(
    r"\b(?:because|since|so|therefore|thus|hence|which means|this means|implies|as a result|it follows|"
    r"consequently|given that|we know|we get|we have)\b",
    re.I,
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=\S)|\n+")
_OPTIONS = re.compile(r"(?im)^\s*(?:-\s*)?(?:\((?P<letter>[A-Ha-h])\)\s*)?(?P<text>[^\n]{1,120}?)\s*$")
_CANONICAL = re.compile(r"^(?:yes|no|true|false|\(?[A-H]\)?|-?\$?\d[\d,./]*%?|sentence [AB]|option \(?[A-H]\)?)$", re.I)
_BOXED = re.compile(r"\\boxed\{(?P<answer>[^{}]*(?:\{[^{}]*\}[^{}]*)*)\}")  # MATH style: $\boxed{56}$
_THINK = re.compile(r"^\s*<think>(?P<trace>.*?)</think>(?P<answer>.*)$", re.S | re.I)
_NON_WORD = re.compile(r"[^a-z0-9/:.()]+")
_LIST_ITEM = re.compile(r"^\s*(?:[-*•]|\d+[.)]|\(?[A-Ha-h][.)])\s")


_TRIGGER_WORDS = ("think", "step", "reason", "rationale", "thought", "cot", "stream of", "work", "accurate", "random")


def _find_trigger(text: str) -> re.Match[str] | None:
    """A CoT trigger phrase; a cheap keyword check first keeps throughput high."""
    lower = text.lower()
    return _TRIGGER.search(text) if any(w in lower for w in _TRIGGER_WORDS) else None


@dataclass(frozen=True)
class Signal:
    """One piece of evidence that a row is chain-of-thought."""

    name: str
    weight: float
    evidence: str


@dataclass(frozen=True)
class Detection:
    """The CoT score of a row and the signals that produced it."""

    score: float
    signals: tuple[Signal, ...] = field(default_factory=tuple)
    words: int = 0

    def detail(self) -> list[dict[str, Any]]:
        """Fired signals as JSON-able dicts (stored with auto tags)."""
        return [asdict(s) for s in self.signals]

    def names(self) -> list[str]:
        return [s.name for s in self.signals]


def _clip(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def sentences(text: str) -> list[str]:
    """Sentences and lines of a text, stripped, without empties."""
    return [s.strip() for s in _SENTENCE_END.split(text.strip()) if s.strip()]


def _words(text: str) -> int:
    return len(text.split())


def split_answer(output: str) -> tuple[str, str, str] | None:
    """(rationale, final answer, style) of a CoT output, or None when no final answer can be located."""
    text = output.strip()
    tail = text[-400:]
    found = _ANSWER.search(tail) if "#" in tail or "answer" in tail.lower() else None
    if found:
        start = len(text) - len(tail) + found.start()
        answer = (found.group("answer") or found.group("hash") or "").strip()
        if answer and _words(answer) <= 15:
            return text[:start].strip(), answer.rstrip("."), "answer_marker"
    boxed = [*_BOXED.finditer(tail)] if "boxed" in tail else []
    if boxed and boxed[-1].group("answer").strip():
        start = len(text) - len(tail) + boxed[-1].start()
        return text[:start].strip(), boxed[-1].group("answer").strip(), "answer_marker"
    explained = _EXPLAINED.match(text)
    if explained and _words(explained.group("answer")) <= 12 and _words(explained.group("rationale")) >= 3:
        style = "labelled_explanation" if explained.group("marker").endswith(":") else "explanation"
        return explained.group("rationale").strip(), explained.group("answer").strip().rstrip("."), style
    parts = sentences(text)
    if len(parts) >= 2:
        last = parts[-1]
        conclusion = _CONCLUSION.match(last)
        if conclusion and _words(last) <= 25:
            rest = conclusion.group("rest").strip().rstrip(".")
            return text[: text.rfind(last)].strip(), rest[:1].upper() + rest[1:], "conclusion"
        if _words(last) <= 5 and not _LIST_ITEM.match(last):
            return text[: text.rfind(last)].strip(), last.rstrip("."), "short_final"
    return None


def _option_texts(prompt: str) -> set[str]:
    """Answer choices listed in a prompt ("Options: - yes - no", "(A) 300", "- Sentence A: ..."), lowercased."""
    if "option" not in prompt.lower() and not re.search(r"\([A-H]\)", prompt):
        return set()
    tail = re.split(r"(?i)options?\s*:", prompt, maxsplit=1)[-1]
    found = set()
    inline = tail.strip()
    if "\n" not in inline and "," in inline and not re.search(r"\([A-H]\)", inline):  # "Options: a, b or c"
        return {o.strip(" .?\"'").lower() for o in re.split(r",\s*|\s+or\s+", inline) if o.strip(" .?\"'")}
    for m in _OPTIONS.finditer(tail):
        text = m.group("text").strip().strip('"').lower()
        if m.group("letter"):
            found |= {f"({m.group('letter').lower()})", m.group("letter").lower()}
        label = text.split(":", 1)[0]
        found |= {text, label} if ":" in text and _words(label) <= 3 else {text}
    return {f for f in found if f}


def _lines(text: str) -> list[str]:
    return [ln.strip() for ln in text.splitlines() if ln.strip()]


def _list_items(lines: list[str]) -> int:
    return sum(1 for ln in lines if _LIST_ITEM.match(ln))


def _answer_signal(rationale: str, answer: str) -> Signal:
    lines = _lines(rationale)
    quiz = bool(lines) and (lines[-1].endswith("?") or _list_items(lines) >= 2)
    if quiz or not lines:
        weight = WEIGHTS["answer_marker/no_rationale"]
    elif _words(rationale) >= 5:
        weight = WEIGHTS["answer_marker"]
    else:
        weight = WEIGHTS["answer_marker/short_rationale"]
    return Signal("answer_marker", weight, _clip(f"… answer is {answer}"))


def _output_signals(
    output: str, parts: list[str], split: tuple[str, str, str] | None, question: bool = False
) -> list[Signal]:
    signals: list[Signal] = []
    if split and split[2] == "answer_marker":
        signals.append(_answer_signal(split[0], split[1]))
    elif split and split[2] in ("labelled_explanation", "explanation"):
        strong = split[2] == "labelled_explanation" or _words(split[1]) <= 4
        weight = WEIGHTS["answer_then_explanation" if strong else "answer_then_explanation/long_answer"]
        signals.append(Signal("answer_then_explanation", weight, _clip(output, 60)))
    if len(parts) >= 2 and _CONCLUSION.match(parts[-1]) and _words(parts[-1]) <= 25:
        signals.append(Signal("conclusion_sentence", WEIGHTS["conclusion_sentence"], _clip(parts[-1])))
    trigger = _find_trigger(output[:200])
    opener = trigger or _OPENER.search(output.lstrip())
    if opener:
        name = "trigger_phrase" if trigger else "reasoning_opener"
        signals.append(Signal(name, WEIGHTS[name], _clip(opener.group(0))))
    equations = _EQUATION.findall(output) if "=" in output else []
    if equations:
        worked = [p for p in parts if _EQUATION.search(p) and len(re.findall(r"[A-Za-z]{2,}", p)) >= 4]
        variant = "arithmetic_chain" if len(equations) >= 2 or len(parts) >= 2 else "arithmetic_chain/single"
        solved = len(worked) >= 2 or (question and len(equations) >= 2)  # a worked solution to a question
        weight = WEIGHTS["arithmetic_chain/worked" if solved else variant]
        signals.append(Signal("arithmetic_chain", weight, _clip("; ".join(equations[:3]))))
    steps = _STEP.findall(output)
    if len(steps) >= 2:
        signals.append(Signal("step_markers", WEIGHTS["step_markers"], _clip(" … ".join(s.strip() for s in steps[:3]))))
    reasoning = [s for s in parts if _CONNECTIVE.search(s)]
    if len(reasoning) >= 2:
        signals.append(Signal("reasoning_connectives", WEIGHTS["reasoning_connectives"], _clip(reasoning[0])))
    return signals


def _final_answer_signals(
    prompt: str, output: str, parts: list[str], split: tuple[str, str, str] | None
) -> list[Signal]:
    """A short final answer after prose (several reasoning sentences, then "72" / "yes" / "(C)")."""
    options = _option_texts(prompt)
    if split and split[2] in ("answer_marker", "labelled_explanation", "explanation"):
        answer = split[1].strip().lower()
        hit = answer in options or answer.split(".")[0].strip() in options
        return [Signal("answer_from_options", WEIGHTS["answer_from_options"], _clip(split[1]))] if hit else []
    if len(parts) < 2:
        return []
    picked = _picked_option(parts[-1], options)
    if _list_items(_lines(output)) >= 2 or (_words(parts[-1].rstrip(".")) > 5 and picked):
        return [Signal("answer_from_options", WEIGHTS["answer_from_options"], _clip(parts[-1]))] if picked else []
    if max(_words(p) for p in parts[:-1]) < 4 and not any(_EQUATION.search(p) for p in parts[:-1]):
        return []
    last = parts[-1].rstrip(".").strip()
    if _words(last) > 5 or _EQUATION.search(last):
        return []
    signals = []
    question = "?" in prompt or bool(options)
    in_options = last.lower() in options
    if (_CANONICAL.match(last) and question) or in_options:
        signals.append(Signal("short_final_answer", WEIGHTS["short_final_answer/canonical"], _clip(last)))
    elif _words(last) <= 3:
        signals.append(Signal("short_final_answer", WEIGHTS["short_final_answer"], _clip(last)))
    if in_options:
        signals.append(Signal("answer_from_options", WEIGHTS["answer_from_options"], _clip(last)))
    return signals


def _tokens(text: str) -> str:
    """Lowercase words, numbers, dates and times separated by single spaces (no trailing punctuation)."""
    return " ".join(t.strip(".:") for t in _NON_WORD.split(text.lower()) if t.strip(".:"))


def _picked_option(sentence: str, options: set[str]) -> str | None:
    """The listed option a concluding sentence names ("... is Aug 4, 2002, that is 08/04/2002"), if exactly one."""
    text = f" {_tokens(sentence)} "
    hits = {o for o in options if len(o) >= 3 and f" {_tokens(o)} " in text}
    longest = {o for o in hits if not any(o != h and o in h for h in hits)}
    return next(iter(longest)) if len(longest) == 1 else None


def learned_score(signals: list[Signal] | tuple[Signal, ...], words: int) -> float:
    """P(reasoning) from the fired signals under the learned weights (`learned.py`, `weights.json`)."""
    x = learned.feature_vector(((s.name, s.weight) for s in signals), set(PENALTIES), _FEATURES, words)
    return min(round(learned.probability(x), 4), 0.9999)  # a model is never certain; threshold 1.0 tags nothing


def contributions(found: Detection) -> dict[str, float]:
    """Each fired signal's share of the learned log-odds, for explanations (`cot explain`, the CoT page)."""
    x = learned.feature_vector(((s.name, s.weight) for s in found.signals), set(PENALTIES), _FEATURES, found.words)
    return learned.contributions(found.names(), x)


def rule_score(signals: list[Signal] | tuple[Signal, ...]) -> float:
    """The hand-set rules' score: noisy-OR of the reasoning signals times (1 - factor) per penalty."""
    miss, damp = 1.0, 1.0
    for s in signals:
        if s.name in PENALTIES:
            damp *= 1.0 - s.weight
        else:
            miss *= 1.0 - s.weight
    return round((1.0 - miss) * damp, 4)


def _text_signals(prompt: str, output: str, *, prompt_trigger: bool) -> list[Signal]:
    parts, split = sentences(output), split_answer(output)
    question = "?" in prompt or bool(TASK_VERB.match(prompt))
    signals = [
        s
        for s in _output_signals(output, parts, split, question)
        if not (prompt_trigger and s.name == "trigger_phrase")
    ]
    signals += _final_answer_signals(prompt, output, parts, split)
    have = {s.name for s in signals}
    if "arithmetic_chain" in have:
        have.add("symbolic_equations")  # the same equations, counted once
    signals += [Signal(n, w, e) for n, w, e in reasoning_signals(prompt, output, parts) if n not in have]
    signals += [Signal(n, w, e) for n, w, e in penalties(prompt, output, _lines(output))]
    return signals


def detect(instruction: str, input: str = "", output: str = "", reasoning: str = "") -> Detection:
    """Score one turn (0..1) and say which CoT signals fired.

    `reasoning` is a separate trace (a `reasoning_content` field); a `<think>` block in the output counts the
    same. A non-empty trace is itself strong evidence; its text and the visible answer are both scanned.
    """
    prompt = f"{instruction or ''}\n{input or ''}"
    trace, answer = split_think(output or "")
    trace = "\n".join(t for t in ((reasoning or "").strip(), trace) if t)
    signals: list[Signal] = []
    trigger = _find_trigger(prompt)
    if trigger:
        signals.append(Signal("trigger_phrase", WEIGHTS["trigger_phrase"], _clip(trigger.group(0))))
    if _words(trace) >= 5:
        signals.append(Signal("reasoning_trace", WEIGHTS["reasoning_trace"], _clip(trace)))
    for text in (trace, answer):
        if text.strip():
            have = {s.name for s in signals}
            signals += [s for s in _text_signals(prompt, text, prompt_trigger=bool(trigger)) if s.name not in have]
    words = _words(trace) + _words(answer)
    return Detection(learned_score(signals, words), tuple(signals), words)


def detect_conversation(messages: list[dict[str, Any]]) -> Detection:
    """The best-scoring assistant turn of a conversation, each scored against the user turn before it."""
    best, prompt = Detection(0.0), ""
    for turn in messages:
        if turn.get("role") == "user":
            prompt = str(turn.get("content") or "")
        elif turn.get("role") == "assistant":
            reasoning = turn.get("reasoning_content") or turn.get("reasoning") or ""
            found = detect(prompt, "", str(turn.get("content") or ""), str(reasoning))
            best = found if found.score > best.score else best
    return best


def detect_row(instruction: str, input: str, output: str, messages: Any = None, reasoning: str = "") -> Detection:
    """Score a stored row: its instruction/output pair, or its best conversation turn when it has messages."""
    found = detect(instruction, input, output, reasoning)
    turns = json.loads(messages) if isinstance(messages, str) and messages else messages
    if isinstance(turns, list) and (
        len(turns) > 2 or any(isinstance(t, dict) and t.get("reasoning_content") for t in turns)
    ):
        other = detect_conversation(turns)
        found = other if other.score > found.score else found
    return found


def split_think(output: str) -> tuple[str, str]:
    """(trace inside <think>...</think>, the text after it); ("", output) when there is no think block."""
    m = _THINK.match(output)
    return (m.group("trace").strip(), m.group("answer").strip()) if m else ("", output)


def check_threshold(threshold: float) -> float:
    """Thresholds live in (0, 1]."""
    if not 0.0 < float(threshold) <= 1.0:
        raise ValueError(f"threshold must be in (0, 1]; got {threshold}")
    return float(threshold)
