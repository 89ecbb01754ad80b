"""Style-independent reasoning signals and the penalties that keep code, how-to steps and dialogue out.

The answer-marker signals in `detector` find CoT that announces its answer. These find reasoning by its
moves, whatever the wording: referring back to the problem or to earlier steps, inference connectives,
worked equations (arithmetic or symbolic), conditionals, a verdict after an explanation, an explanation that
answers a closed question without saying yes/no first, a conclusion that restates the question, premises
linked sentence to sentence towards a question they do not restate first, and arithmetic on the question's
own numbers.
Penalties multiply the score down for text that only looks stepwise: code, imperative how-to lists, dialogue.
"""

from __future__ import annotations

import functools
import re

import snowballstemmer  # English Snowball (Porter2): "placed" and "place" are one word; imports in ms, unlike nltk

# Signal weights (noisy-OR) and penalty factors (the score is multiplied by 1 - factor).
WEIGHTS: dict[str, float] = {
    "problem_reference": 0.45,
    "problem_reference/repeated": 0.6,  # options weighed twice or more ("rules out (A)", "that leaves (C)")
    "we_reasoning": 0.3,
    "enumerated_derivation": 0.35,
    "state_tracking": 0.3,
    "inference_chain": 0.3,
    "inference_chain/long": 0.45,
    "symbolic_equations": 0.35,
    "symbolic_equations/worked": 0.5,  # equations that answer a question or a "solve/find ..." task
    "conditional_inference": 0.35,
    "verdict_after_reasoning": 0.4,
    "explains_closed_question": 0.5,
    "restates_question": 0.5,
    "chained_premises": 0.5,
    "bridging_fact": 0.5,
    "back_reference": 0.45,
    "linked_premises": 0.5,
    "computes_from_givens": 0.5,
    "self_check": 0.45,
    "code_trace": 0.45,
}
PENALTIES: dict[str, float] = {"code": 0.85, "how_to_steps": 0.7, "dialogue": 0.7, "letter": 0.7, "writing_task": 0.5}

_PROBLEM_REF = re.compile(  # first-letter lookaheads let `re` skip most positions fast
    r"\b(?=[iftawhore(])(?:(?:in |from |according to )?(?:this|the) "
    r"(?:question|problem|puzzle|statement|claim|argument|premises?)\b|"
    r"we are (?:told|given|asked)|we need to (?:determine|find|figure|check|compute|identify)|"
    r"here we need|the (?:options?|choices?|answer choices)\b|option \(?[A-H]\)?|\([A-H]\) (?:is|cannot|must|says)|"
    r"(?:is|are) (?:eliminated|ruled out)|rules? out|eliminat(?:e|es|ing) |(?:that|which|this) leaves\b|"
    r"the only (?:\w+ )?(?:left|remaining)\b)",
    re.I,
)
_NAMES_PROBLEM = re.compile(
    r"(?:in |from |according to )?(?:this|the) (?:question|problem|puzzle|statement|claim|argum)"
)
_WE = re.compile(
    r"\b(?=[wl])(?:we|let'?s|let us) (?:first |now |then |can |still )?(?:know|get|find|conclude|compute|calculate|"
    r"add|subtract|multiply|divide|simplify|evaluate|recall|start at|deduce|obtain|combine|substitute|"
    r"solve|count|notice|assume|suppose|plug|now have)\b|\blet (?:[a-z]|x|y|n) (?:be|=)\b",
    re.I,
)
_INFERENCE = re.compile(
    r"\b(?=[stbhwcaim])(?:so|therefore|thus|hence|because|since|which means|this means|that means|it follows|implies|"
    r"consequently|as a result|must be|cannot be|can't be|must have|would have to|which makes|so that|"
    r"(?:that|this|which) is why)\b",
    re.I,
)
_SYMBOLIC = re.compile(r"(?:[\w)\]\"'](?: ?[-+*/×÷−^] ?[\w(]+)* ?= ?[\w(\"'-])")
_CONDITIONAL = re.compile(
    r"\bif\b[^.?!\n]{3,120}?,? (?:then|so)\b|\b(?:suppose|assume) (?:that )?\w|"
    r"\bif\b[^.?!\n]{3,120}?, (?!you\b)\w+(?: \w+)? (?:must|cannot|can't|could not|couldn't)\b",
    re.I,
)
_VERDICT = re.compile(
    r"\b(?:not |im)?plausible\b|\b(?:in)?valid\b|\b(?:does not|doesn't|do not) (?:follow|hold|make sense)\b|"
    r"^(?:yes|no|true|false)\b|\b(?:is|are) (?:true|false|correct|incorrect|wrong|right)\b|"
    r"\bthe (?:correct|right|best) (?:choice|option|answer)\b|\bwe cannot conclude\b|\b(?:so|thus|therefore|hence)\b",
    re.I,
)
_CLOSED_QUESTION = re.compile(
    r"(?:^|\.\s+)(?:(?:claim|question|q)\s*:\s*)?(?:is|are|was|were|can|could|do|does|did|would|will|has|have|had|should|"
    r"may|might)\b[^?]*\?|\b(?:true or false|yes\W{1,3}(?:or\W{1,3})?no|which (?:one )?of (?:the following|these)|"
    r"which (?:one|sentence|statement|option)|is the (?:claim|statement|following) (?:above )?(?:true|correct|"
    r"factual|plausible|a verifiable)|against common sense|does\W{1,3}not\W{1,3}make sense|nonsensical|"
    r"is it possible)\b",
    re.I | re.M,
)
TASK_VERB = re.compile(r"\s*(?:solve|calculate|compute|find|simplify|evaluate|determine|work out)\b", re.I)
_REQUEST = re.compile(  # a polite request, not a closed question ("Can you fit a piano in a lift?" is one)
    r"^\s*(?:can|could|would|will) you (?:please |kindly )?(?:help|write|tell|give|explain|provide|describe|list|make|"
    r"create|show|suggest|recommend|summari[sz]e|translate|generate|name|come|think|share|edit|rewrite|draft|compose|"
    r"find|identify|classify|convert|paraphrase|correct|add|plan|outline|design|brainstorm|offer|teach|walk|let)\b",
    re.I,
)
_DEFINITION_QUESTION = re.compile(
    r"^\s*(?:what (?:is|are|was|were)|what's|who (?:is|was)|describe|explain|define)\b|\b(?:difference|differ|"
    r"compare|comparison|definition|meaning of|example of)\b",
    re.I,
)
_LIST_START = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s")
_YES_NO_START = re.compile(r"^\W*(?:yes|no|true|false|correct|incorrect|sure|certainly|absolutely)\b", re.I)
_BACK_REF = re.compile(
    r"\b(?:from|by|combining|using|with) \(\d+\)|\bstep \d+\b.{0,40}\bwe\b|\(\d+\)[^\n(]{0,80}\(\d+\)", re.I
)
_ENUMERATED = re.compile(r"(?m)^\s*(?:\(\d+\)|\d[\w.:-]*:)\s")  # "(1) ...", "1: ...", "5am-12pm: ..."
_STATE = re.compile(
    r"\b(?=[antif])(?:at the (?:start|beginning|end)|after (?:this|that|the (?:\w+ )?(?:swap|trade|move|step|turn))|"
    r"(?:now|then),? \w+ (?:has|have|holds|is at|is holding)|is now (?:at|holding|facing)|facing the)\b",
    re.I,
)
_LETTER = re.compile(r"^\s*(?:dear|hi|hello|to whom)\b|\n\s*(?:sincerely|best regards|kind regards|yours),?\s*\n", re.I)
_WRITING_TASK = re.compile(
    r"^\s*(?:please )?(?:write|compose|create|draft|generate|give me|produce|craft)\b[^.?!\n]{0,60}?\b"
    r"(?:essay|paragraph|story|poem|letter|e-?mail|speech|article|blog|review|description|rap|song|dialogue|tweet|slogan|summary|"
    r"narrative|script|haiku|limerick|message|note|advert\w*|pitch)\b",
    re.I,
)
_WORD = re.compile(r"[a-z0-9]+")
_QUESTION_END = re.compile(r"(?:\?|:|\b_+|\bwhat)\W*$|^\s*(?:what|which|where|when|who|why|how)\b", re.I)
_RESULT = re.compile(r"=\s*\$?(\d[\d.]*)")
_EXPLAIN_REQUEST = re.compile(
    r"\b(?:explain|describe|define|definition|meaning of|what is meant|difference|differ|compare|functions? of)\b", re.I
)
_PERSONAL_START = re.compile(r"^\W*(?:i|i'\w+|we|my|our)\b", re.I)
_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.]*\d)")
_OPERATION = re.compile(
    r"(?<![\w.])(\d+(?:\.\d+)?)\s*\)?\s*(?:[-+*/×÷x−^]|times|plus|minus|divided by|multiplied by)\s*\(?\s*"
    r"(\d+(?:\.\d+)?)"
)
_SELF_CHECK = re.compile(  # a trace that checks itself: "Wait, ...", "Let me double-check", "Hmm,"
    r"(?:^|(?<=[.!?\n]) ?)(?:wait|hmm+|hold on|on second thought)\b[,.!]|\blet me (?:double-check|check|verify|"
    r"re-?check|recount|count|re-?calculate|re-?compute|reconsider|make sure|try again|redo)\b|\bdouble-check",
    re.I,
)
_CODE_TRACE = re.compile(  # following a program's execution rather than writing one
    r"\bthe loop (?:runs|executes|iterates|repeats)\b|\bafter the (?:loop|first iteration|call)\b|"
    r"\bon the (?:first|second|third|next|last|final) (?:iteration|pass)\b|\bevaluates to\b|"
    r"\b(?:goes|changes) (?:from )?-?\d+ ?(?:->|→|to) ?-?\d+",
    re.I,
)
_SELF_CHECK_WORDS = ("wait", "hmm", "hold on", "second thought", "let me", "double-check")
_CODE_TRACE_WORDS = ("loop", "after the", "on the", "evaluates", "goes", "changes")
_NUMBER_WORD_TEXT = "one two three four five six seven eight nine ten eleven twelve"
_NUMBER_WORDS = {word: str(n) for n, word in enumerate(_NUMBER_WORD_TEXT.split(), start=1)}
_STOP_TEXT = (
    "a an the of to in on at for is are was were be been do does did what which who whom whose how why when "
    "where would could should can will might may must and or not no yes it its this that these those with by as "
    "from than then so if you your i we they he she his her their there here one"
)
_STOP = frozenset(_STOP_TEXT.split())
# Penalties
_CODE_LINE = re.compile(
    r"^\s*(?:def |class |import |from \w+ import |return\b|function\b|const |let \w+ =|var |public |private |"
    r"#include|package |func |SELECT |FROM |WHERE |CREATE |RUN |COPY |FROM \w|[{}]\s*$|.*;\s*$|.*\)\s*\{\s*$|"
    r"(?:for|while|if)\b.*[:{]\s*$|print\(|console\.)",
)
_STEP_LINE = re.compile(r"^\s*(?:step\s*\d+\s*[:.)-]|\d+[.)]|[-*•])\s*(?P<first>[A-Za-z]+)", re.I)
_IMPERATIVE_TEXT = (
    "add bake beat boil bring check choose chop click combine cook cover cut dig dip drain enjoy fill find fold "
    "go heat install keep let loosen lower make melt mix mount open place plant pour preheat press put remove "
    "rinse run season select serve set simmer slice sprinkle start stir take tighten turn type use wait wash "
    "water whisk wrap write lift park jack read open pick avoid get go keep talk call backfill halve mash "
    "squeeze spread"
)
_IMPERATIVE = frozenset(_IMPERATIVE_TEXT.split())
_SPEAKER = re.compile(r"^\s*([A-Z][\w.' -]{0,24}):\s+\S")


def _clip(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _content_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 2}


_stem = functools.lru_cache(maxsize=65536)(snowballstemmer.stemmer("english").stemWord)


def _stems(text: str) -> set[str]:
    return {_stem(w) for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 2}


def _instructs(sentence: str) -> bool:
    """The sentence opens with an imperative verb ("Bring the water to a boil")."""
    first = sentence.split(maxsplit=1)
    return bool(first) and first[0].lower().strip(",") in _IMPERATIVE


def _linked_premises(prompt: str, parts: list[str]) -> str | None:
    """Premises that lead somewhere: two or more impersonal prose sentences of three words or more, each sharing a
    word with one before it ("A bed is furniture with feet. Furniture with feet goes on the floor. The floor is
    ..."), for a question that asks neither for a definition nor an explanation, and that the first sentence does
    not already answer by restating it (an answer-first reply covers half its words or more). Instructions
    ("Bring the water to a boil ...") and first-person replies are not premises. The shared words, or None."""
    if len(parts) < 2 or not _QUESTION_END.search(prompt.strip()) or _EXPLAIN_REQUEST.search(prompt):
        return None
    if any(_LIST_START.match(p) or len(p.split()) < 3 for p in parts) or _PERSONAL_START.match(parts[0]):
        return None
    asked, seen = _stems(prompt), _stems(parts[0])
    if len(asked) < 2 or len(seen & asked) >= 0.5 * len(asked):
        return None
    links = []
    for part in parts[1:]:  # stop at the first sentence that links to nothing before it
        words = _stems(part)
        if not words & seen:
            return None
        links.append(min(words & seen))
        seen |= words
    return " → ".join(links)


def _computes_from_givens(prompt: str, output: str) -> str | None:
    """Arithmetic on the question's own numbers: two or more numbers of a worded problem used as operands in the
    output, in operations the prompt does not already spell out, reaching a number the prompt does not contain
    ("158 + 50 = 208" for "divided by 158 gives a remainder 50 ..."). The first such operation, or None."""
    if len(prompt.split()) < 8 or "=" not in output:
        return None
    given = set(_NUMBER.findall(prompt.replace(",", ""))) | {
        _NUMBER_WORDS[w] for w in _WORD.findall(prompt.lower()) if w in _NUMBER_WORDS
    }
    if len(given) < 2:
        return None
    text, squeezed = output.replace(",", ""), re.sub(r"\s+", "", prompt.replace(",", ""))
    used, first = set(), None
    for m in _OPERATION.finditer(text):
        if re.sub(r"\s+", "", m.group(0)) in squeezed:
            continue
        used |= {m.group(1), m.group(2)} & given
        first = first or m.group(0)
    results = {n for m in _RESULT.finditer(text) for n in _NUMBER.findall(m.group(1))}
    return first if len(used) >= 2 and results - given else None


def reasoning_signals(prompt: str, output: str, parts: list[str]) -> list[tuple[str, float, str]]:
    """(name, weight, evidence) for every style-independent reasoning move found in the output."""
    found: list[tuple[str, float, str]] = []

    def add(name: str, evidence: str, variant: str | None = None) -> None:
        found.append((name, WEIGHTS[variant or name], _clip(evidence)))

    if m := _PROBLEM_REF.search(output):
        distinct = {r.lower() for r in _PROBLEM_REF.findall(output)}
        weighs = len(distinct) >= 2 and any(
            not _NAMES_PROBLEM.match(r) for r in distinct
        )  # options, not "the argument"
        add("problem_reference", m.group(0), "problem_reference/repeated" if weighs else None)
    lower = output.lower()  # cheap keyword checks first keep throughput: most outputs have neither move
    if any(w in lower for w in _SELF_CHECK_WORDS) and (m := _SELF_CHECK.search(output)):
        add("self_check", m.group(0))
    if any(w in lower for w in _CODE_TRACE_WORDS) and (m := _CODE_TRACE.search(output)):
        add("code_trace", m.group(0))
    if m := _WE.search(output):
        add("we_reasoning", m.group(0))
    inferential = [p for p in parts if _INFERENCE.search(p)]
    if len(inferential) >= 2:
        add("inference_chain", inferential[0], "inference_chain/long" if len(inferential) >= 3 else None)
    closed_question = bool(_CLOSED_QUESTION.search(prompt))
    question = "?" in prompt or closed_question or bool(TASK_VERB.match(prompt))
    equations = _SYMBOLIC.findall(output) if "=" in output else []
    if len(equations) >= 2:
        worked = "symbolic_equations/worked" if question else None
        add("symbolic_equations", "; ".join(e.strip() for e in equations[:3]), worked)
    if m := _CONDITIONAL.search(output):
        add("conditional_inference", m.group(0))
    if len(_ENUMERATED.findall(output)) >= 3:
        add("enumerated_derivation", _ENUMERATED.search(output).group(0) + "…")
    if m := _STATE.search(output):
        add("state_tracking", m.group(0))
    if m := _BACK_REF.search(output):
        add("back_reference", m.group(0))
    if len(parts) >= 2 and question and _VERDICT.search(parts[-1]):
        add("verdict_after_reasoning", parts[-1])
    closed = closed_question and not _REQUEST.match(prompt)
    if closed and not _YES_NO_START.match(output) and len(output.split()) >= 6:
        add("explains_closed_question", parts[0] if parts else output)
    if len(parts) >= 2 and question:
        asked, last, first = _content_words(prompt), _content_words(parts[-1]), _content_words(parts[0])
        if len(asked) >= 3 and len(asked & last) >= 0.5 * len(asked) and len(asked & first) < len(asked & last):
            add("restates_question", parts[-1])
    listed = sum(1 for p in parts if _LIST_START.match(p)) >= 2
    if len(parts) >= 3 and not listed and (chain := _chained(parts)):
        add("chained_premises", chain)
    if worked := _computes_from_givens(prompt, output):
        add("computes_from_givens", worked)
    if parts and _instructs(parts[0]):  # "Bring the water to a boil ...": advice, not premises
        return found
    asks_definition = _DEFINITION_QUESTION.search(prompt)
    if (
        2 <= len(parts) <= 4
        and prompt.rstrip().endswith("?")
        and not asks_definition
        and (bridge := _bridge(prompt, parts))
    ):
        add("bridging_fact", bridge)
    if linked := _linked_premises(prompt, parts):
        add("linked_premises", linked)
    return found


def _bridge(prompt: str, parts: list[str]) -> str | None:
    """Facts linked through an entity the question does not name, each touching the question, none restating
    it first ("Soccer requires kicking the ball. Soccer games have fans." for "Where do fans watch people kick
    a ball?"): the bridge word, or None."""
    asked = _content_words(prompt)
    said = [_content_words(p) for p in parts]
    if len(asked) < 2 or not all(words & asked for words in said) or len(said[0] & asked) > 0.6 * len(asked):
        return None
    repeated = (
        set.intersection(*said) - asked
        if len(said) == 2
        else {w for w in set().union(*said) - asked if sum(w in x for x in said) >= 2}
    )
    return sorted(repeated)[0] if repeated else None


def _chained(parts: list[str]) -> str | None:
    """A conclusion built from earlier premises: the last sentence's words all come from two or more earlier
    sentences, and no single one of them holds them all ("A is B. C is A. So C is B.")."""
    last = _content_words(parts[-1])
    earlier = [_content_words(p) for p in parts[:-1]]
    if len(last) < 3 or any(last <= words for words in earlier):
        return None
    covered = set().union(*earlier)
    contributing = [words for words in earlier if words & last]
    if len(last & covered) >= 0.85 * len(last) and len(contributing) >= 2:
        return parts[-1]
    return None


def penalties(prompt: str, output: str, lines: list[str]) -> list[tuple[str, float, str]]:
    """(name, factor, evidence) for text that looks stepwise but is not reasoning, or a prose-writing task."""
    found: list[tuple[str, float, str]] = []
    if m := _WRITING_TASK.search(prompt):
        found.append(("writing_task", PENALTIES["writing_task"], _clip(m.group(0))))
    code = [ln for ln in lines if _CODE_LINE.match(ln)]
    if "```" in output or len(code) >= 2:
        found.append(("code", PENALTIES["code"], _clip(code[0] if code else "```")))
    steps = [m.group("first").lower() for ln in lines if (m := _STEP_LINE.match(ln))]
    imperative = [w for w in steps if w in _IMPERATIVE]
    if (len(imperative) >= 2 and len(imperative) >= 0.5 * len(steps)) or re.search(r"(?im)^ingredients\s*:", output):
        found.append(("how_to_steps", PENALTIES["how_to_steps"], _clip(", ".join(imperative[:4]) or "ingredients")))
    speakers = [m.group(1) for ln in lines if (m := _SPEAKER.match(ln))]
    if len(speakers) >= 3 and len(set(speakers)) <= max(2, len(speakers) // 2):
        found.append(("dialogue", PENALTIES["dialogue"], _clip(", ".join(sorted(set(speakers))))))
    if m := _LETTER.search(output):
        found.append(("letter", PENALTIES["letter"], _clip(m.group(0))))
    return found
