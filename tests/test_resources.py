"""Offline resources: NLTK data from Debian's WordNet, the counter-fitted synonym space, checks."""

from __future__ import annotations

import pytest
import torch

from robustbench_nlp.cli import main
from robustbench_nlp.core.errors import UserError
from robustbench_nlp.resources import layout as resources
from robustbench_nlp.resources import synonyms, wordnet
from robustbench_nlp.resources.counterfit import (
    CounterFitConfig,
    counter_fit,
    nearest_neighbours,
    whole_words,
)
from tests.helpers import missing


@pytest.fixture
def empty_resources(tmp_path, monkeypatch):
    root = tmp_path / "resources"
    monkeypatch.setenv(resources.RESOURCES_ENV, str(root))
    return root


def test_lexnames_are_the_45_rows_of_the_manual_page():
    rows = [line.split("\t") for line in wordnet.lexnames_text().splitlines()]
    assert len(rows) == 45
    assert rows[0] == ["00", "adj.all", "3"]
    assert rows[3] == ["03", "noun.Tops", "1"]
    assert rows[29] == ["29", "verb.body", "2"]
    assert rows[44] == ["44", "adj.ppl", "3"]
    assert [int(r[0]) for r in rows] == list(range(45))


def test_stopwords_are_nltk_english():
    assert len(wordnet.STOPWORDS) == len(set(wordnet.STOPWORDS)) == 179
    assert {"the", "not", "wouldn't", "ma"} <= set(wordnet.STOPWORDS)


@pytest.mark.filterwarnings("ignore:The multilingual functions:UserWarning")
def test_wordnet_is_copied_and_readable_by_nltk(tmp_path, monkeypatch):
    if not (wordnet.WORDNET_SOURCE / "data.noun").is_file():
        missing("WordNet is not installed: apt-get install -y wordnet-base wordnet-sense-index")
    import nltk
    from nltk.corpus.reader import WordListCorpusReader
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    where = resources.Layout(tmp_path)
    wordnet.prepare_nltk(where)
    # NLTK reads only below its data roots, as offline_textattack() arranges for the real one.
    monkeypatch.setattr(nltk.data, "path", [str(where.nltk_data), *nltk.data.path])
    for name in resources.WORDNET_FILES:
        path = where.wordnet / name
        assert path.is_file() and not path.is_symlink()
    assert (where.wordnet.stat().st_mode & 0o002) == 0  # NLTK refuses world-writable folders
    reader = WordNetCorpusReader(str(where.wordnet), None)
    assert "good.a.01" in {s.name() for s in reader.synsets("good")}
    assert reader.synset("dog.n.01").lexname() == "noun.animal"
    words = WordListCorpusReader(str(where.stopwords.parent), ["english"]).words("english")
    assert words == wordnet.STOPWORDS


def test_missing_wordnet_source_names_the_apt_packages(tmp_path):
    with pytest.raises(UserError, match="apt-get install -y wordnet-base wordnet-sense-index"):
        wordnet.prepare_nltk(resources.Layout(tmp_path / "r"), wordnet_source=tmp_path)


def test_require_names_what_is_missing_and_the_command(empty_resources):
    with pytest.raises(UserError) as error:
        resources.require("wordnet", "synonyms")
    message = str(error.value)
    assert "wordnet, synonyms" in message and "robustbench-nlp resources prepare" in message
    assert "\n" not in message


def test_resources_check_command_fails_until_prepared(empty_resources, capsys):
    assert main(["resources", "check"]) == 1
    out = capsys.readouterr()
    assert "MISSING  wordnet" in out.out
    assert "robustbench-nlp resources prepare" in out.err


def test_prepare_without_a_data_folder_is_a_user_error(empty_resources, capsys):
    if not (wordnet.WORDNET_SOURCE / "data.noun").is_file():
        missing("WordNet is not installed: apt-get install -y wordnet-base wordnet-sense-index")
    assert main(["resources", "prepare"]) == 2
    assert "needs the data folder: pass --data-dir" in capsys.readouterr().err
    statuses = {s.name: s.ok for s in resources.check()}
    assert statuses["wordnet"] and statuses["stopwords"] and statuses["textattack-cache"]


def test_counter_fitting_repels_antonyms_and_attracts_synonyms():
    torch.manual_seed(0)
    base = torch.randn(6, 8)
    vectors = torch.stack([base[0], base[0] + 0.1 * base[1], base[2], base[2] + base[3], *base[4:]])
    synonyms_ = torch.tensor([[2, 3], [3, 2]])
    antonyms = torch.tensor([[0, 1], [1, 0]])
    before = torch.nn.functional.normalize(vectors, dim=1)
    after = counter_fit(vectors, synonyms_, antonyms, CounterFitConfig(steps=50))
    assert torch.allclose(after.norm(dim=1), torch.ones(6), atol=1e-5)
    assert after[0] @ after[1] < before[0] @ before[1] - 0.3
    assert after[2] @ after[3] > before[2] @ before[3] + 0.1
    assert torch.allclose(after[4:], before[4:])  # words without constraints stay put
    neighbours = nearest_neighbours(after, k=2)
    assert neighbours[:, 0].tolist() == list(range(6))


def test_whole_words_skip_pieces_and_special_tokens():
    vocab = {"[CLS]": 0, "##ing": 1, "film": 2, "a": 3, "good": 4, "3d": 5, "don't": 6}
    assert whole_words(vocab) == [("film", 2), ("good", 4)]


@pytest.mark.slow
def test_counter_fitted_space_keeps_antonyms_apart(shared_data, tmp_path):
    """On the real lexicon and MiniLM: antonyms are never candidates of a TextFooler swap (not
    among the 50 nearest neighbours, word cosine below its 0.5 floor); synonyms stay close."""
    status = {s.name: s for s in resources.check()}
    if status["synonyms"].ok:
        space = synonyms.load(resources.layout().synonyms)
    else:
        synonyms.build(shared_data / "lexicon", tmp_path / "space")
        space = synonyms.load(tmp_path / "space")
    index = space.index()
    for a, b in [("good", "bad"), ("love", "hate"), ("best", "worst"), ("happy", "sad")]:
        ia, ib = index[a], index[b]
        assert ib not in space.neighbours[ia][1:51].tolist(), (a, b)
        assert ia not in space.neighbours[ib][1:51].tolist(), (b, a)
        assert float(space.vectors[ia] @ space.vectors[ib]) < 0.5, (a, b)
    assert index["film"] in space.neighbours[index["movie"]][1:6].tolist()
    assert index["hilarious"] in space.neighbours[index["funny"]][1:6].tolist()


def test_prepare_without_data_builds_the_rest_and_says_what_it_left_out(empty_resources, capsys):
    if not (wordnet.WORDNET_SOURCE / "data.noun").is_file():
        missing("WordNet is not installed: apt-get install -y wordnet-base wordnet-sense-index")
    assert main(["resources", "prepare", "--without-data"]) == 0
    out = capsys.readouterr().out
    assert "synonyms: not built (needs the data folder" in out
    assert "MISSING  similarity" in out and "ok       wordnet" in out
    assert main(["resources", "check"]) == 1  # a plain check still reports the gap


def test_without_data_and_data_dir_together_are_refused(empty_resources, tmp_path, capsys):
    assert main(["resources", "prepare", "--without-data", "--data-dir", str(tmp_path)]) == 2
    assert "contradict" in capsys.readouterr().err


def test_the_masked_lm_head_is_built_only_on_request(
    empty_resources, capsys, monkeypatch, tmp_path
):
    """``prepare`` leaves the MLM (minutes of training, BAE / BERT-Attack only) to ``--mlm``: a
    check then lists it as missing without failing; ``--mlm`` builds it through ``mlm.build``."""
    from robustbench_nlp.resources import mlm, prepare, similarity

    if not (wordnet.WORDNET_SOURCE / "data.noun").is_file():
        missing("WordNet is not installed: apt-get install -y wordnet-base wordnet-sense-index")
    built = []
    monkeypatch.setattr(mlm, "build", lambda data_dir, target, log: built.append(target))
    monkeypatch.setattr(
        synonyms, "build", lambda *a: {"words": 0, "synonym_pairs": 0, "antonym_pairs": 0}
    )
    monkeypatch.setattr(similarity, "build_calibration", lambda *a: {"pairs": 0})
    for name in ("lexicon", "stsb/sts-dev.csv", "sst2/train.tsv"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).touch()
    assert main(["resources", "prepare", "--without-data"]) == 0
    assert "MISSING  mlm" in capsys.readouterr().out and not built
    prepare.prepare(tmp_path)
    assert not built
    where = prepare.prepare(tmp_path, with_mlm=True)
    assert built == [where.mlm]
