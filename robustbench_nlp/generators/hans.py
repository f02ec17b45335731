"""A HANS-style challenge set, generated from templates: 3 heuristics x 2 labels x 5 subcases.

McCoy et al. (2019, arXiv 1902.01007) show that NLI models trained on SNLI/MNLI lean on three
heuristics: a premise entails every hypothesis built from its words (lexical overlap), every
contiguous subsequence of it (subsequence) and every complete subtree (constituent). Each
heuristic has five subcases where it gives the right answer (entailment) and five where it does
not (non-entailment). The subcase names are the paper's; the templates and vocabulary are this
module's own, so the set is *HANS-style*, not HANS: report it as such.

Every sentence is built as a small constituency tree, so the file carries real (if simple)
``*_parse`` and ``*_binary_parse`` columns in the official layout, and ``read_hans`` loads it like
the official file. Generation is seeded per subcase (``Random(f"{seed}:{subcase}")``): a larger
``n_per_subcase`` extends a smaller one, and a subcase's examples never depend on the others.
Pairs repeat within a subcase only once its templates run out of new ones (not at n <= 1000).

Usage::

    rows = generate_hans(n_per_subcase=100, seed=0)      # 3000 rows, dicts keyed by HANS_COLUMNS
    python -m robustbench_nlp.generators.hans out.tsv --n 1000 --seed 0
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from robustbench_nlp.tasks.hans import ENTAILMENT, NON_ENTAILMENT, write_hans

# -- vocabulary ---------------------------------------------------------------------------------
NOUNS = (
    "doctor", "lawyer", "teacher", "senator", "artist", "banker", "pilot", "farmer", "writer",
    "singer", "judge", "nurse", "student", "manager", "tourist", "scientist", "chef", "soldier",
    "dancer", "actor",
)  # fmt: skip
#: Regular verbs only: past tense = past participle, so passives need no second form.
TRANSITIVE = (
    "advised", "admired", "called", "contacted", "helped", "thanked", "visited", "watched",
    "recognized", "supported", "mentioned", "avoided", "introduced", "encouraged", "recommended",
    "followed",
)  # fmt: skip
INTRANSITIVE = (
    "slept", "danced", "waited", "laughed", "shouted", "arrived", "smiled", "resigned",
    "performed", "cried",
)  # fmt: skip
#: Verbs taking a noun phrase or a clause ("knew the lawyer" / "knew the lawyer left").
NP_S_VERBS = ("believed", "knew", "heard", "forgot", "suspected")
#: Optionally transitive verbs for the NP/Z garden path ("Since the doctor hid the lawyer ...").
NP_Z_VERBS = ("hid", "left", "moved", "paid", "studied", "stopped", "watched", "called")
#: Participles read as a reduced relative ("The doctor paid in the office ...").
PARTICIPLES = ("paid", "helped", "trained", "examined", "interviewed", "hired", "treated")
LOCATIONS = ("office", "library", "school", "hospital", "museum", "studio", "laboratory")
#: Verbs whose object may be left understood, each with objects that fit it.
OBJECT_VERBS = {
    "read": ("book", "letter", "report", "poem", "novel"),
    "wrote": ("letter", "book", "poem", "report", "song"),
    "ate": ("soup", "salad", "sandwich", "apple", "pizza"),
    "drank": ("coffee", "tea", "water", "juice", "milk"),
    "won": ("race", "game", "prize", "match", "election"),
    "cooked": ("dinner", "meal", "soup", "rice", "pasta"),
    "painted": ("wall", "portrait", "house", "fence", "picture"),
    "sang": ("song", "anthem", "hymn", "ballad", "lullaby"),
}
ADJECTIVES = ("happy", "tall", "young", "famous", "rich", "brave", "clever", "angry", "old")
PREPOSITIONS = (("near",), ("behind",), ("beside",), ("next", "to"), ("in", "front", "of"))
RELATIVIZERS = (("who", "WP"), ("that", "WDT"))
NONFACTIVE_VERBS = ("hoped", "thought", "believed", "claimed", "assumed", "suspected", "said")
FACTIVE_VERBS = ("knew", "forgot", "remembered", "realized", "learned", "noticed")
NONVERIDICAL_ADVERBS = ("probably", "maybe", "perhaps", "supposedly", "hopefully", "possibly")
VERIDICAL_ADVERBS = ("certainly", "clearly", "obviously", "definitely", "undoubtedly")
CONDITIONALS = ("if", "unless")
VERIDICAL_SUBORDINATORS = ("since", "because", "although", "after", "while", "though")
NP_Z_SUBORDINATORS = ("since", "while", "after", "before", "when", "although", "because")


# -- trees --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Tree:
    """A constituency tree: a phrase (label + children) or a leaf (tag + word)."""

    label: str
    children: tuple[Tree, ...] = ()
    word: str | None = None

    def words(self) -> list[str]:
        if self.word is not None:
            return [self.word]
        return [w for child in self.children for w in child.words()]

    def parse(self) -> str:
        """Penn style: ``(ROOT (S (NP (DT The) (NN doctor)) (VP (VBD slept)) (. .)))``."""
        if self.word is not None:
            return f"({self.label} {self.word})"
        return f"({self.label} {' '.join(child.parse() for child in self.children)})"

    def binary_parse(self) -> str:
        """Unlabelled, right-branching binarised, unary nodes collapsed (SNLI's style)."""
        if self.word is not None:
            return self.word
        parts = [child.binary_parse() for child in self.children]
        tree = parts[-1]
        for part in reversed(parts[:-1]):
            tree = f"( {part} {tree} )"
        return tree

    def capitalized(self) -> Tree:
        """The same tree with its first word capitalised (sentence start)."""
        if self.word is not None:
            return replace(self, word=self.word[:1].upper() + self.word[1:])
        return replace(self, children=(self.children[0].capitalized(), *self.children[1:]))


def leaf(tag: str, word: str) -> Tree:
    return Tree(tag, word=word)


def phrase(label: str, *children: Tree) -> Tree:
    return Tree(label, tuple(children))


COMMA = leaf(",", ",")
PERIOD = leaf(".", ".")


def sentence(*children: Tree) -> Tree:
    """ROOT over a clause (or the clause's parts) closed by a period, first word capitalised."""
    if len(children) == 1 and children[0].label == "S":
        children = children[0].children
    return phrase("ROOT", phrase("S", *children, PERIOD)).capitalized()


def clause(subject: Tree, vp: Tree) -> Tree:
    return phrase("S", subject, vp)


def attach(main: Tree, modifier: Tree) -> Tree:
    """``main`` with ``modifier`` closing its verb phrase (``... danced if the judge slept``)."""
    subject, vp = main.children
    return clause(subject, phrase("VP", *vp.children, modifier))


# -- the generator ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Subcase:
    name: str
    heuristic: str
    gold: str
    build: Callable[[Builder], tuple[Tree, Tree, int]]


class Builder:
    """Random phrases for one example; nouns are never repeated within an example."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def pick(self, options):
        return self.rng.choice(options)

    def noun(self) -> tuple[str, bool]:
        base = self.rng.choice([n for n in NOUNS if n not in self.used])
        self.used.add(base)
        return base, self.rng.random() < 0.5

    def np(self) -> Tree:
        """``the doctor`` / ``the doctors``."""
        base, plural = self.noun()
        return self.np_of(base, plural)

    @staticmethod
    def np_of(base: str, plural: bool) -> Tree:
        noun = leaf("NNS", base + "s") if plural else leaf("NN", base)
        return phrase("NP", leaf("DT", "the"), noun)

    def verbs(self, k: int) -> list[str]:
        return self.rng.sample(TRANSITIVE, k)

    @staticmethod
    def vp(verb: str, obj: Tree | None = None) -> Tree:
        return phrase("VP", leaf("VBD", verb), obj) if obj else phrase("VP", leaf("VBD", verb))

    def random_vp(self) -> Tree:
        """An intransitive verb, or a transitive one with a fresh object."""
        if self.rng.random() < 0.5:
            return self.vp(self.pick(INTRANSITIVE))
        return self.vp(self.pick(TRANSITIVE), self.np())

    def random_clause(self) -> Tree:
        return clause(self.np(), self.random_vp())

    def pp(self, obj: Tree) -> Tree:
        words = self.pick(PREPOSITIONS)
        if len(words) == 1:
            return phrase("PP", leaf("IN", words[0]), obj)
        if words[0] == "next":
            return phrase("ADVP", leaf("JJ", "next"), phrase("PP", leaf("TO", "to"), obj))
        front = phrase("NP", phrase("NP", leaf("NN", "front")), phrase("PP", leaf("IN", "of"), obj))
        return phrase("PP", leaf("IN", "in"), front)

    def relative(self, verb: str, other: Tree | None, object_gap: bool) -> Tree:
        """``who the lawyer saw`` (object gap), ``who saw the lawyer`` or ``who slept``."""
        word, tag = self.pick(RELATIVIZERS)
        head = phrase("WHNP", leaf(tag, word))
        if other is None:
            body = phrase("S", self.vp(verb))
        elif object_gap:
            body = phrase("S", other, self.vp(verb))
        else:
            body = phrase("S", self.vp(verb, other))
        return phrase("SBAR", head, body)

    @staticmethod
    def modified(np: Tree, modifier: Tree) -> Tree:
        return phrase("NP", np, modifier)

    def passive(self, subject: Tree, verb: str, agent: Tree) -> Tree:
        plural = subject.children[1].label == "NNS"
        aux = "were" if plural else "was"
        by = phrase("PP", leaf("IN", "by"), agent)
        return clause(subject, phrase("VP", leaf("VBD", aux), phrase("VP", leaf("VBN", verb), by)))

    def subordinate(self, word: str, body: Tree) -> Tree:
        return phrase("SBAR", leaf("IN", word), body)


def _choose(b: Builder, templates: list[Callable[[], tuple[Tree, Tree]]]) -> tuple[Tree, Tree, int]:
    index = b.rng.randrange(len(templates))
    premise, hypothesis = templates[index]()
    return premise, hypothesis, index + 1


# Each builder returns (premise S, hypothesis S, template number); X, Y, Z are distinct NPs.
# --- lexical overlap, non-entailment ---
def ln_subject_object_swap(b: Builder):
    x, y, v = b.np(), b.np(), b.pick(TRANSITIVE)
    return clause(x, b.vp(v, y)), clause(y, b.vp(v, x)), 1


def ln_preposition(b: Builder):
    x, y, z, v = b.np(), b.np(), b.np(), b.pick(TRANSITIVE)
    on_subject = clause(b.modified(x, b.pp(y)), b.vp(v, z))
    on_object = clause(x, b.vp(v, b.modified(y, b.pp(z))))
    return _choose(
        b,
        [
            lambda: (on_subject, clause(y, b.vp(v, x))),
            lambda: (on_subject, clause(z, b.vp(v, x))),
            lambda: (on_object, clause(y, b.vp(v, x))),
            lambda: (on_object, clause(z, b.vp(v, x))),
        ],
    )


def ln_relative_clause(b: Builder):
    x, y, z = b.np(), b.np(), b.np()
    v1, v2 = b.verbs(2)
    return _choose(
        b,
        [  # the doctor who the lawyer saw helped the judge -> the lawyer helped the judge
            lambda: (
                clause(b.modified(x, b.relative(v1, y, True)), b.vp(v2, z)),
                clause(y, b.vp(v2, z)),
            ),
            lambda: (
                clause(b.modified(x, b.relative(v1, y, False)), b.vp(v2, z)),
                clause(y, b.vp(v2, z)),
            ),
            lambda: (
                clause(x, b.vp(v1, b.modified(y, b.relative(v2, z, False)))),
                clause(x, b.vp(v2, z)),
            ),
        ],
    )


def ln_passive(b: Builder):
    x, y, v = b.np(), b.np(), b.pick(TRANSITIVE)
    return b.passive(x, v, y), clause(x, b.vp(v, y)), 1


def ln_conjunction(b: Builder):
    x, y, z, v = b.np(), b.np(), b.np(), b.pick(TRANSITIVE)
    subjects = clause(phrase("NP", x, leaf("CC", "and"), y), b.vp(v, z))
    objects = clause(x, b.vp(v, phrase("NP", y, leaf("CC", "and"), z)))
    return _choose(
        b,
        [
            lambda: (subjects, clause(x, b.vp(v, y))),
            lambda: (subjects, clause(y, b.vp(v, x))),
            lambda: (objects, clause(y, b.vp(v, z))),
        ],
    )


# --- lexical overlap, entailment ---
def le_relative_clause(b: Builder):
    x, y, z = b.np(), b.np(), b.np()
    v1, v2 = b.verbs(2)
    return _choose(
        b,
        [  # the doctor who the lawyer saw helped the judge -> the lawyer saw the doctor
            lambda: (
                clause(b.modified(x, b.relative(v1, y, True)), b.vp(v2, z)),
                clause(y, b.vp(v1, x)),
            ),
            lambda: (
                clause(b.modified(x, b.relative(v1, y, False)), b.vp(v2, z)),
                clause(x, b.vp(v1, y)),
            ),
            lambda: (
                clause(x, b.vp(v1, b.modified(y, b.relative(v2, z, False)))),
                clause(y, b.vp(v2, z)),
            ),
            lambda: (
                clause(x, b.vp(v1, b.modified(y, b.relative(v2, z, True)))),
                clause(z, b.vp(v2, y)),
            ),
        ],
    )


def le_around_prepositional_phrase(b: Builder):
    x, y, z, v = b.np(), b.np(), b.np(), b.pick(TRANSITIVE)
    return clause(b.modified(x, b.pp(y)), b.vp(v, z)), clause(x, b.vp(v, z)), 1


def le_around_relative_clause(b: Builder):
    x, y, z = b.np(), b.np(), b.np()
    v1, v2 = b.verbs(2)
    hypothesis = clause(x, b.vp(v2, z))
    return _choose(
        b,
        [
            lambda: (clause(b.modified(x, b.relative(v1, y, True)), b.vp(v2, z)), hypothesis),
            lambda: (clause(b.modified(x, b.relative(v1, y, False)), b.vp(v2, z)), hypothesis),
            lambda: (
                clause(b.modified(x, b.relative(b.pick(INTRANSITIVE), None, False)), b.vp(v2, z)),
                hypothesis,
            ),
        ],
    )


def le_conjunction(b: Builder):
    x, y, z, v = b.np(), b.np(), b.np(), b.pick(TRANSITIVE)
    subjects = clause(phrase("NP", x, leaf("CC", "and"), y), b.vp(v, z))
    objects = clause(x, b.vp(v, phrase("NP", y, leaf("CC", "and"), z)))
    return _choose(
        b,
        [
            lambda: (subjects, clause(x, b.vp(v, z))),
            lambda: (subjects, clause(y, b.vp(v, z))),
            lambda: (objects, clause(x, b.vp(v, y))),
            lambda: (objects, clause(x, b.vp(v, z))),
        ],
    )


def le_passive(b: Builder):
    x, y, v = b.np(), b.np(), b.pick(TRANSITIVE)
    return b.passive(x, v, y), clause(y, b.vp(v, x)), 1


# --- subsequence, non-entailment ---
def sn_np_s(b: Builder):
    x, y, v = b.np(), b.np(), b.pick(NP_S_VERBS)
    embedded = phrase("SBAR", clause(y, b.random_vp()))
    return clause(x, b.vp(v, embedded)), clause(x, b.vp(v, y)), 1


def sn_pp_on_subject(b: Builder):
    x, y = b.np(), b.np()
    vp = b.random_vp()
    return clause(b.modified(x, b.pp(y)), vp), clause(y, vp), 1


def sn_relative_clause_on_subject(b: Builder):
    x, y = b.np(), b.np()
    rc = b.relative(b.pick(TRANSITIVE), y, False)  # the doctor who saw the lawyer ...
    vp = b.random_vp()
    return clause(b.modified(x, rc), vp), clause(y, vp), 1


def sn_past_participle(b: Builder):
    x = b.np()
    participle, location = b.pick(PARTICIPLES), b.pick(LOCATIONS)
    place = phrase("PP", leaf("IN", "in"), phrase("NP", leaf("DT", "the"), leaf("NN", location)))
    reduced = phrase("VP", leaf("VBN", participle), place)
    as_main = phrase("VP", leaf("VBD", participle), place)
    if b.rng.random() < 0.5:  # the doctor paid in the office danced -> the doctor paid in ...
        return clause(b.modified(x, reduced), b.random_vp()), clause(x, as_main), 1
    y = b.np()  # the judge saw the doctor paid in the office -> the doctor paid in the office
    premise = clause(y, b.vp(b.pick(TRANSITIVE), b.modified(x, reduced)))
    return premise, clause(x, as_main), 2


def sn_np_z(b: Builder):
    x, y, v = b.np(), b.np(), b.pick(NP_Z_VERBS)
    since = b.subordinate(b.pick(NP_Z_SUBORDINATORS), clause(x, b.vp(v)))
    premise = phrase("S", since, y, b.random_vp())  # no comma: the garden path
    return premise, clause(x, b.vp(v, y)), 1


# --- subsequence, entailment ---
def se_conjunction(b: Builder):
    x, y = b.np(), b.np()
    vp = b.random_vp()
    return clause(phrase("NP", x, leaf("CC", "and"), y), vp), clause(y, vp), 1


def se_adjective(b: Builder):
    base, _ = b.noun()
    noun = leaf("NNS", base + "s")
    vp = b.random_vp()
    premise = clause(phrase("NP", leaf("JJ", b.pick(ADJECTIVES)), noun), vp)
    return premise, clause(phrase("NP", noun), vp), 1


def se_understood_object(b: Builder):
    x = b.np()
    verb = b.pick(sorted(OBJECT_VERBS))
    obj = phrase("NP", leaf("DT", "the"), leaf("NN", b.pick(OBJECT_VERBS[verb])))
    return clause(x, b.vp(verb, obj)), clause(x, b.vp(verb)), 1


def se_relative_clause_on_obj(b: Builder):
    x, y, z = b.np(), b.np(), b.np()
    v1, v2 = b.verbs(2)
    kind = b.rng.randrange(3)
    if kind == 2:
        rc = b.relative(b.pick(INTRANSITIVE), None, False)
    else:
        rc = b.relative(v2, z, object_gap=kind == 1)
    return clause(x, b.vp(v1, b.modified(y, rc))), clause(x, b.vp(v1, y)), kind + 1


def se_pp_on_obj(b: Builder):
    x, y, z, v = b.np(), b.np(), b.np(), b.pick(TRANSITIVE)
    return clause(x, b.vp(v, b.modified(y, b.pp(z)))), clause(x, b.vp(v, y)), 1


# --- constituent: the two labels share their shapes, only the licensing words differ -------
def _embedded_under(subordinators: Sequence[str]):
    """[if / since clause] + main clause; the hypothesis is the embedded clause."""

    def template(b: Builder):
        inner, main = b.random_clause(), b.random_clause()
        condition = b.subordinate(b.pick(subordinators), inner)
        return _choose(
            b,
            [
                lambda: (phrase("S", condition, COMMA, *main.children), inner),
                lambda: (attach(main, condition), inner),
            ],
        )

    return template


def _after_clause(subordinators: Sequence[str]):
    """[if / since clause], main clause; the hypothesis is the main clause."""

    def template(b: Builder):
        inner, main = b.random_clause(), b.random_clause()
        condition = b.subordinate(b.pick(subordinators), inner)
        return phrase("S", condition, COMMA, *main.children), main, 1

    return template


def _embedded_under_verb(verbs: Sequence[str]):
    """X [believes / knows] that S; the hypothesis is S."""

    def template(b: Builder):
        x, inner = b.np(), b.random_clause()
        complement = phrase("SBAR", leaf("IN", "that"), inner)
        return clause(x, b.vp(b.pick(verbs), complement)), inner, 1

    return template


def _coordination(conjunction: str):
    """S1 , [or / and] S2; the hypothesis is one of the two."""

    def template(b: Builder):
        first, second = b.random_clause(), b.random_clause()
        premise = phrase("S", first, COMMA, leaf("CC", conjunction), second)
        return _choose(b, [lambda: (premise, first), lambda: (premise, second)])

    return template


def _adverb(adverbs: Sequence[str]):
    """[Probably / Certainly] S; the hypothesis is S."""

    def template(b: Builder):
        inner = b.random_clause()
        adverb = phrase("ADVP", leaf("RB", b.pick(adverbs)))
        return phrase("S", adverb, *inner.children), inner, 1

    return template


cn_embedded_under_if = _embedded_under(CONDITIONALS)
cn_after_if_clause = _after_clause(CONDITIONALS)
cn_embedded_under_verb = _embedded_under_verb(NONFACTIVE_VERBS)
cn_disjunction = _coordination("or")
cn_adverb = _adverb(NONVERIDICAL_ADVERBS)
ce_embedded_under_since = _embedded_under(VERIDICAL_SUBORDINATORS)
ce_after_since_clause = _after_clause(VERIDICAL_SUBORDINATORS)
ce_embedded_under_verb = _embedded_under_verb(FACTIVE_VERBS)
ce_conjunction = _coordination("and")
ce_adverb = _adverb(VERIDICAL_ADVERBS)


def _subcases() -> tuple[Subcase, ...]:
    table = [
        ("lexical_overlap", NON_ENTAILMENT, [
            ("ln_subject/object_swap", ln_subject_object_swap),
            ("ln_preposition", ln_preposition),
            ("ln_relative_clause", ln_relative_clause),
            ("ln_passive", ln_passive),
            ("ln_conjunction", ln_conjunction),
        ]),
        ("lexical_overlap", ENTAILMENT, [
            ("le_relative_clause", le_relative_clause),
            ("le_around_prepositional_phrase", le_around_prepositional_phrase),
            ("le_around_relative_clause", le_around_relative_clause),
            ("le_conjunction", le_conjunction),
            ("le_passive", le_passive),
        ]),
        ("subsequence", NON_ENTAILMENT, [
            ("sn_NP/S", sn_np_s),
            ("sn_PP_on_subject", sn_pp_on_subject),
            ("sn_relative_clause_on_subject", sn_relative_clause_on_subject),
            ("sn_past_participle", sn_past_participle),
            ("sn_NP/Z", sn_np_z),
        ]),
        ("subsequence", ENTAILMENT, [
            ("se_conjunction", se_conjunction),
            ("se_adjective", se_adjective),
            ("se_understood_object", se_understood_object),
            ("se_relative_clause_on_obj", se_relative_clause_on_obj),
            ("se_PP_on_obj", se_pp_on_obj),
        ]),
        ("constituent", NON_ENTAILMENT, [
            ("cn_embedded_under_if", cn_embedded_under_if),
            ("cn_after_if_clause", cn_after_if_clause),
            ("cn_embedded_under_verb", cn_embedded_under_verb),
            ("cn_disjunction", cn_disjunction),
            ("cn_adverb", cn_adverb),
        ]),
        ("constituent", ENTAILMENT, [
            ("ce_embedded_under_since", ce_embedded_under_since),
            ("ce_after_since_clause", ce_after_since_clause),
            ("ce_embedded_under_verb", ce_embedded_under_verb),
            ("ce_conjunction", ce_conjunction),
            ("ce_adverb", ce_adverb),
        ]),
    ]  # fmt: skip
    return tuple(
        Subcase(name, heuristic, gold, build)
        for heuristic, gold, entries in table
        for name, build in entries
    )


SUBCASES = _subcases()


def generate_subcase(subcase: Subcase, n: int, seed: int = 0) -> list[tuple[Tree, Tree, int]]:
    """``n`` (premise, hypothesis, template) triples, distinct while the templates allow."""
    rng = random.Random(f"{seed}:{subcase.name}")
    seen: set[tuple[str, str]] = set()
    out: list[tuple[Tree, Tree, int]] = []
    attempts = 0
    while len(out) < n:
        premise, hypothesis, template = subcase.build(Builder(rng))
        premise, hypothesis = sentence(premise), sentence(hypothesis)
        key = (" ".join(premise.words()), " ".join(hypothesis.words()))
        attempts += 1
        if key in seen and attempts < 50 * n:
            continue
        seen.add(key)
        out.append((premise, hypothesis, template))
    return out


def generate_hans(n_per_subcase: int = 100, seed: int = 0) -> list[dict[str, str]]:
    """Rows of a HANS-style set in the official layout: ``n_per_subcase`` for each of 30."""
    if n_per_subcase < 1:
        raise ValueError("n_per_subcase must be >= 1")
    rows = []
    for subcase in SUBCASES:
        for premise, hypothesis, template in generate_subcase(subcase, n_per_subcase, seed):
            rows.append(
                {
                    "gold_label": subcase.gold,
                    "sentence1_binary_parse": premise.binary_parse(),
                    "sentence2_binary_parse": hypothesis.binary_parse(),
                    "sentence1_parse": premise.parse(),
                    "sentence2_parse": hypothesis.parse(),
                    "sentence1": " ".join(premise.words()),
                    "sentence2": " ".join(hypothesis.words()),
                    "pairID": f"ex{len(rows)}",
                    "heuristic": subcase.heuristic,
                    "subcase": subcase.name,
                    "template": f"{subcase.name}:t{template}",
                }
            )
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write a HANS-style set in the HANS layout.")
    parser.add_argument("out", type=Path, help="Output .tsv/.txt file.")
    parser.add_argument("--n", type=int, default=1000, help="Examples per subcase (30 subcases).")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    write_hans(generate_hans(args.n, args.seed), args.out)
    print(f"{args.out}: {args.n * len(SUBCASES)} examples")


if __name__ == "__main__":
    main()
