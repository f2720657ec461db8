"""A deterministic synthetic site for benchmarks: N essays citing a shared glossary.

Each essay is about 1,500 words with `##` headings, a list, a blockquote, 6-8 citations of
a shared glossary of 50 terms and one note of its own. The same N and seed always give the
same bytes, so every tool in a comparison builds exactly the same content.

    python -m bench.generate 1000 /tmp/site
"""

from __future__ import annotations

import argparse
import random
import shutil
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

GLOSSARY_SIZE = 50
WORDS_PER_ESSAY = 1500
FIRST_DAY = date(2000, 1, 4)
LAST_DAY = date(2029, 6, 30)
SEED = 20261123

VOCABULARY_TEXT = (
    "attention reading margin page pencil notebook morning evening habit craft sentence "
    "paragraph chapter draft letter winter summer garden window river harbour lamp desk "
    "quiet slow patient careful small long short bright dim old new whole broken open "
    "closed early late simple plain honest strange familiar distant near slowly gently "
    "often seldom always never perhaps nearly almost rather quite again still only even "
    "write read keep find lose carry notice remember forget return begin finish choose "
    "wait listen walk follow gather sort copy mark fold turn hold leave bring learn teach "
    "and the of a to in that it with for as on but by from at or which when where because "
    "while though until after before under over between through without within across "
    "reader writer friend teacher student neighbour stranger editor printer librarian "
    "memory question answer reason doubt idea thought mistake lesson story argument "
    "book shelf library archive index list card thread needle ink paper map clock bell"
)
VOCABULARY = tuple(VOCABULARY_TEXT.split())

TERM_WORDS_TEXT = (
    "residue flow margin commonplace zettel pomodoro palimpsest scriptorium marginalia "
    "vellum folio quire rubric gloss colophon incunable codex lectern sabbath ledger "
    "almanac epigraph footnote errata octavo"
)
TERM_WORDS = tuple(TERM_WORDS_TEXT.split())

TAGS = (
    "attention",
    "reading",
    "writing",
    "craft",
    "habits",
    "notebooks",
    "memory",
    "seasons",
    "libraries",
    "letters",
    "walking",
    "tools",
    "teaching",
    "editing",
    "history",
    "quiet",
    "work",
    "rest",
    "paper",
    "lists",
)


@dataclass(frozen=True)
class GlossaryTerm:
    """One generated glossary entry: its key (the file name) and its term."""

    key: str
    term: str


def sentence(rng: random.Random, low: int = 8, high: int = 22) -> str:
    """A capitalised sentence of random vocabulary words."""
    words = rng.choices(VOCABULARY, k=rng.randint(low, high))
    text = " ".join(words)
    return text[0].upper() + text[1:] + rng.choice(".....?")


def paragraph(rng: random.Random, sentences: int) -> str:
    """A paragraph of several sentences, with a little emphasis now and then."""
    words = " ".join(sentence(rng) for _ in range(sentences)).split(" ")
    if rng.random() < 0.4:
        index = rng.randrange(1, len(words) - 1)
        words[index] = f"*{words[index]}*"
    return " ".join(words)


def glossary_terms() -> list[GlossaryTerm]:
    """The shared glossary's keys and terms, the same for every corpus."""
    terms = []
    for number in range(GLOSSARY_SIZE):
        word = TERM_WORDS[number % len(TERM_WORDS)]
        key = f"{word}-{number // len(TERM_WORDS) + 1}"
        terms.append(GlossaryTerm(key, f"{word.capitalize()} ({number // len(TERM_WORDS) + 1})"))
    return terms


def glossary_file(term: GlossaryTerm, rng: random.Random) -> str:
    """One `footnotes/<key>.md` file."""
    return (
        f'---\nterm: "{term.term}"\nsource: "{sentence(rng, 2, 3)[:-1]}"\n---\n'
        f"{paragraph(rng, 3)}\n"
    )


def essay_dates(count: int) -> list[date]:
    """One date per essay, spread evenly over the past so every essay is published."""
    span = (LAST_DAY - FIRST_DAY).days
    return [FIRST_DAY + timedelta(days=(span * index) // max(count, 1)) for index in range(count)]


def essay_file(number: int, day: date, terms: list[GlossaryTerm], rng: random.Random) -> str:
    """One essay of about 1,500 words: headings, a list, a blockquote, cited notes."""
    cited = rng.sample(terms, rng.randint(6, 8))
    tags = rng.sample(TAGS, rng.randint(1, 3))
    title = " ".join(rng.choices(VOCABULARY, k=4)).capitalize()
    blocks: list[str] = []
    words = 0
    section = 0
    citations = iter(cited)
    while words < WORDS_PER_ESSAY - 120:
        if words >= section * 300:
            section += 1
            blocks.append(f"## {sentence(rng, 3, 6)[:-1]} {section}")
        text = paragraph(rng, rng.randint(3, 6))
        term = next(citations, None)
        if term is not None:
            text += f" As the {term.term.lower()} shows[^{term.key}], it carries on."
        blocks.append(text)
        words += len(text.split())
        if section == 2 and not any(b.startswith("- ") for b in blocks):
            blocks.append("\n".join(f"- {sentence(rng, 4, 10)}" for _ in range(5)))
        if section == 3 and not any(b.startswith("> ") for b in blocks):
            blocks.append(f"> {paragraph(rng, 2)}\n>\n> {sentence(rng, 3, 5)}")
    for term in citations:
        blocks.append(f"{paragraph(rng, 2)} See also the {term.term.lower()}[^{term.key}].")
    blocks.append(f"{paragraph(rng, 2)} A last aside belongs to this essay alone[^aside].")
    blocks.append(f"[^aside]: {sentence(rng)} {sentence(rng)}")
    front = (
        f'---\ntitle: "{title} {number}"\ndate: {day.isoformat()}\n'
        f"slug: essay-{number:05d}\ntags: [{', '.join(tags)}]\n---\n"
    )
    return front + "\n\n".join(blocks) + "\n"


def settings_file(count: int) -> str:
    """The generated site's publish.toml."""
    return (
        "[site]\n"
        f'title = "Benchmark Letters ({count})"\n'
        'url = "https://bench.example.org/"\n'
        'author = "Bench Writer"\n'
        'timezone = "UTC"\n'
        'description = "A generated site for measuring build speed."\n\n'
        "[email]\n"
        'from = "Bench Writer <letters@bench.example.org>"\n'
        'reply_to = "letters@bench.example.org"\n'
        'postal_address = "1 Bench Street, Testtown"\n'
    )


def generate(count: int, root: Path, seed: int = SEED) -> Path:
    """Write a site of `count` essays into `root` (replacing it); return root."""
    if root.exists():
        shutil.rmtree(root)
    (root / "essays").mkdir(parents=True)
    (root / "footnotes").mkdir()
    (root / "publish.toml").write_text(settings_file(count), encoding="utf-8")
    rng = random.Random(seed)
    terms = glossary_terms()
    for term in terms:
        (root / "footnotes" / f"{term.key}.md").write_text(
            glossary_file(term, rng), encoding="utf-8"
        )
    for number, day in enumerate(essay_dates(count), start=1):
        text = essay_file(number, day, terms, rng)
        (root / "essays" / f"{number:05d}.md").write_text(text, encoding="utf-8")
    return root


def main(argv: list[str] | None = None) -> None:
    """Command line: `python -m bench.generate N DIR [--seed S]`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("count", type=int, help="how many essays")
    parser.add_argument("directory", type=Path, help="where to write the site (replaced)")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    generate(args.count, args.directory, args.seed)
    print(f"Wrote {args.count} essays into {args.directory}")


if __name__ == "__main__":
    main()
