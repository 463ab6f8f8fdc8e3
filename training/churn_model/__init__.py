"""Churn modelling, pure: snapshots in (columns as arrays), model, metrics and scores out.

No file, network or environment access anywhere in this package: ``training/train.py`` (the
SageMaker script-mode entry point) reads the channels and writes the outputs; everything in
between is here and tested on hand-made arrays (tests/training/churn_model/).

    features   which snapshot columns the model uses; derived columns (main channel, segment)
    metrics    ROC/PR AUC, Brier, log loss, calibration, confusion matrix, threshold rule
    model      the forest (class weights, prior correction), the recency baseline, top factors
    pipeline   out-of-time split → fit → evaluate → refit → score: ``train_and_score``

Importable as ``churn_model`` both in the container (the source folder is unpacked at
``/opt/ml/input/data/code`` and ``python train.py`` puts the script's folder on ``sys.path``)
and in the project (pyproject maps it to ``training/churn_model``).
"""
