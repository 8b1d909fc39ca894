"""engine.core: the vocabulary every layer speaks, at the bottom of the engine and importing nothing above it.

`features` (attribute rows of users and items), `data` (what a model is fitted on and queried with), `model` (the
contract every recommender implements) and `search_space` (the ranges a model declares for tuning).
"""
