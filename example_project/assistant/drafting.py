"""Deterministic text work standing in for a model call: no network, same input, same draft.

A real host would call its LLM provider here; the example keeps the shape (prompt in,
draft out, review findings) so the runtime path can be shown and tested offline.
"""

import re
from collections import Counter

_STOPWORD_TEXT = (
    "a an and are as at be but by can could do does for from had has have how i if in into "
    "is it its me my of on or our please should so that the their them then there these they "
    "this to us was we what when where which who why will with would you your"
)
STOPWORDS = frozenset(_STOPWORD_TEXT.split())
ABSOLUTE_WORDS = ("always", "never", "guarantee", "guaranteed", "promise")
SUMMARY_LIMIT = 160
LONG_DRAFT = 600


def normalise(text):
    return " ".join(str(text or "").split())


def keywords(text, limit=3):
    """The most frequent content words, ties broken alphabetically."""
    words = [w for w in re.findall(r"[a-z][a-z'-]+", text.lower()) if w not in STOPWORDS]
    counts = Counter(w for w in words if len(w) >= 4)
    return [word for word, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]]


def first_sentence(text):
    sentence = re.split(r"(?<=[.!?])\s+", text, maxsplit=1)[0]
    if len(sentence) > SUMMARY_LIMIT:
        sentence = sentence[: SUMMARY_LIMIT - 3].rstrip() + "..."
    return sentence


def compose_draft(prompt):
    """The draft reply for ``prompt``: a dict the handlers store as JSON."""
    text = normalise(prompt)
    topics = keywords(text)
    topic_line = ", ".join(topics) if topics else "your request"
    return {
        "prompt": text,
        "keywords": topics,
        "word_count": len(text.split()),
        "text": f"Thanks for your message about {topic_line}. In short: {first_sentence(text)}",
    }


def needs_bounded_review(draft_text):
    """The host's escalation policy (as in the guide): drafts that mention policy get a critic."""
    return "policy" in str(draft_text).lower()


def review_findings(draft_text):
    """What the critic flags in a draft, in a stable order."""
    text = str(draft_text or "")
    lowered = text.lower()
    findings = []
    if "policy" in lowered and not re.search(r"(section|§)\s*\d", lowered):
        findings.append("Cite the policy section the answer relies on.")
    absolutes = [word for word in ABSOLUTE_WORDS if re.search(rf"\b{word}\b", lowered)]
    if absolutes:
        findings.append(f"Avoid absolute promises ({', '.join(absolutes)}).")
    if len(text) > LONG_DRAFT:
        findings.append(f"Shorten the answer to under {LONG_DRAFT} characters.")
    return findings
