"""What dancepose learns and how it is represented.

Data flow: ``clock`` (one time base) → ``skeleton`` (one canonical body) → ``posefile`` (one file format)
→ ``features`` (one causal music-feature extractor, offline and live) → ``network`` (the Keras model
that is trained) → ``dancer`` (the numpy step that performs, offline and live).
"""
