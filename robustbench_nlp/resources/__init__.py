"""Offline resources of the word attacks, built once by ``robustbench-nlp resources prepare``.

One cache folder outside the repository (``$RBNLP_RESOURCES_DIR``, default
``~/.cache/robustbench-nlp/resources``) holds local replacements for what TextAttack downloads:

- ``layout``: where each resource lives, ``check`` / ``require`` (nothing built or imported);
- ``wordnet``: NLTK's stopwords and WordNet 3.0 from Debian's packages;
- ``counterfit`` + ``synonyms``: the synonym space replacing TextFooler's counter-fitted vectors
  (MiniLM's input word vectors counter-fitted to ``<data>/lexicon``);
- ``similarity``: the MiniLM sentence encoder and its calibration on STS-B dev, which maps the
  Universal Sentence Encoder thresholds of the recipes onto MiniLM;
- ``prepare``: builds whatever is missing.
"""
