"""The Train form's words for what a model can serve are true to the model's declared capabilities."""

from __future__ import annotations

from engine.jobs.params import capability_summary
from engine.models.registry import get_model_class, model_names


def test_a_model_is_said_to_serve_new_users_or_items_from_attributes_only_when_it_reads_them():
    assert capability_summary("mostpop") == ("new users (without attributes, not personalised) · "
                                             "new items (a few interactions)")
    assert capability_summary("segmentpop") == "new users (attributes)"
    for name in model_names():
        caps, summary = get_model_class(name).capabilities, capability_summary(name)
        assert ("new users (attributes)" in summary) == (caps.new_users and caps.uses_user_features), name
        assert ("new items (attributes)" in summary) == (caps.new_items and caps.uses_item_features), name
