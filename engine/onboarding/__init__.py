"""engine.onboarding: which items to ask a new user about, and the simulated onboarding protocol that measures it.

One interface (`base.OnboardingStrategy`), one file per strategy, registered in `registry.STRATEGIES`; the
simulation (`simulate.simulate_onboarding`) asks held-out users questions their own history answers, and
`curves.onboarding_curves` turns its per-user values into the cold-start curve with paired CIs against random.
"""

from engine.onboarding.base import (LIKED, NEVER_SEEN, NOT_LIKED, OnboardingContext, OnboardingError,
                                    OnboardingState, OnboardingStrategy)
from engine.onboarding.curves import best_strategy, onboarding_curves
from engine.onboarding.population import OnboardingPopulation, onboarding_population
from engine.onboarding.registry import BASELINE, STRATEGIES, create_strategy
from engine.onboarding.simulate import DEFAULT_STEPS, check_steps, onboarding_context, simulate_onboarding

__all__ = ["BASELINE", "DEFAULT_STEPS", "LIKED", "NEVER_SEEN", "NOT_LIKED", "OnboardingContext", "OnboardingError",
           "OnboardingPopulation", "OnboardingState", "OnboardingStrategy", "STRATEGIES", "best_strategy",
           "check_steps", "create_strategy", "onboarding_context", "onboarding_curves", "onboarding_population",
           "simulate_onboarding"]
