"""The onboarding strategies by name: one line each, one file each."""

from __future__ import annotations

from engine.onboarding.base import OnboardingError, OnboardingStrategy
from engine.onboarding.coverage import CoverageStrategy
from engine.onboarding.entropy import EntropyStrategy
from engine.onboarding.log_pop_entropy import LogPopEntropyStrategy
from engine.onboarding.popularity import PopularityStrategy
from engine.onboarding.random_strategy import RandomStrategy
from engine.onboarding.ranking_impact import RankingImpactStrategy

STRATEGIES: dict[str, type[OnboardingStrategy]] = {
    cls.name: cls for cls in (RandomStrategy, PopularityStrategy, EntropyStrategy, LogPopEntropyStrategy,
                              CoverageStrategy, RankingImpactStrategy)
}
BASELINE = RandomStrategy.name
"""What every strategy is compared with: revealing at random, as the few-shot protocols do."""


def create_strategy(name: str) -> OnboardingStrategy:
    """A fresh strategy by registry name, with the list of known names when it is not one."""
    try:
        return STRATEGIES[name]()
    except KeyError:
        raise OnboardingError(f"unknown onboarding strategy {name!r}; known strategies: "
                              f"{', '.join(STRATEGIES)}") from None
