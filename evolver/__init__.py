"""The evolver: failed episodes become replay-verified corrections (stored with their lineage) and lessons.

``classify`` says why an episode failed; ``generators`` propose candidates (``search``: a model-free repairer,
``model``: an observer policy in repair mode); ``replay`` runs each on a fresh simulator and grades it;
``engine`` drives it all and stores verified corrections; ``lessons`` distils guidance keyed by symptoms.
"""
