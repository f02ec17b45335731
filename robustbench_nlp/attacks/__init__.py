"""Attacks: perturbations of a model's input (embedding-space PGD/FGSM, TextAttack word attacks).

Fixed evaluation sets live in ``robustbench_nlp.evaluations``; offline resources in
``robustbench_nlp.resources``.
"""
