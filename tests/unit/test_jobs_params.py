"""The Train form's words for what a model can serve are true to the model's declared capabilities."""

from __future__ import annotations

import pytest

from engine.jobs.params import ParamError, capability_summary, param_fields, parse_field
from engine.models.registry import get_model_class, model_names


def test_a_model_is_said_to_serve_new_users_or_items_from_attributes_only_when_it_reads_them():
    assert capability_summary("mostpop") == ("new users (without attributes, not personalised) · "
                                             "new items (a few interactions)")
    assert capability_summary("segmentpop") == "new users (attributes)"
    for name in model_names():
        caps, summary = get_model_class(name).capabilities, capability_summary(name)
        assert ("new users (attributes)" in summary) == (caps.new_users and caps.uses_user_features), name
        assert ("new items (attributes)" in summary) == (caps.new_items and caps.uses_item_features), name


def test_list_settings_get_a_widget_kind_instead_of_being_fixed():
    candidates = next(f for f in param_fields("auto") if f.name == "candidates")
    assert candidates.kind == "models"
    assert "auto" not in candidates.choices and {"content", "mostpop", "als"} <= set(candidates.choices)
    layers = next(f for f in param_fields("deepfm") if f.name == "mlp_layers")
    assert (layers.kind, layers.default) == ("list", [128, 64])


def test_comma_separated_text_is_parsed_and_checked_by_the_config_itself():
    config = get_model_class("auto").Config
    assert parse_field(config, "candidates", "content, mostpop") == ["content", "mostpop"]
    with pytest.raises(ParamError, match="auto cannot compare contnet"):
        parse_field(config, "candidates", "contnet,mostpop")
    with pytest.raises(ParamError, match="item 2: Input should be a valid integer"):
        parse_field(get_model_class("deepfm").Config, "mlp_layers", "64,x")
