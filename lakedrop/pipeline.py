"""The pipeline's steps after ingest, in order: one definition for both runtimes.

``lakedrop run`` runs them on the local lake in this order; the Step Functions state machine
(``statemachine/pipeline.asl.json``) has a state of each name, entered in this order, and
tests/statemachine executes it and checks the order against this tuple. The publish rule is the
same in both: the run's model, metrics and predictions become current (``models/_LATEST.json``
moves) only in the last step, after every step before it succeeded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

STEPS: Final = ("Features", "Training", "Publish")

# the state machines' definitions (Amazon States Language, with ${...} DefinitionSubstitutions)
STATEMACHINE_DIR: Final = Path(__file__).resolve().parent.parent / "statemachine"
PIPELINE_DEFINITION: Final = STATEMACHINE_DIR / "pipeline.asl.json"
TRIGGER_DEFINITION: Final = STATEMACHINE_DIR / "trigger.asl.json"
