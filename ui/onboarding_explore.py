"""Explore: onboard a made-up user by answering a strategy's sign-up questions, watching the lists change.

Session state keeps the answers (item id -> liked / not liked / never seen) per experiment and strategy, and each
model's previous list, so every item that entered a list with the last answer is marked new.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import streamlit as st

from engine.analysis.explore import ExploreContext, ExploreError, FittedRun, ModelAnswer, with_item_attributes
from engine.analysis.onboard import cannot_ask, next_question, recommendations_after
from engine.onboarding import LIKED, NEVER_SEEN, NOT_LIKED, STRATEGIES

ANSWER_WORDS = {LIKED: "liked it", NOT_LIKED: "did not like it", NEVER_SEEN: "never seen it"}


def _state(key: str) -> dict:
    return st.session_state.setdefault(key, {"answers": {}, "previous": {}})


def _marked(answers: list[ModelAnswer], previous: dict[int, list[str]]) -> list[ModelAnswer]:
    """Each table with a `new` column: True for items that were not in that model's list before the last answer
    (all of them for a model that could not answer before it)."""
    for answer in answers:
        if answer.not_applicable is None and not answer.table.empty:
            before = set(previous.get(answer.run.run_id, []))
            answer.table = answer.table.assign(new=[item not in before for item in answer.table["item_id"]])
    return answers


def onboarding_tab(context: ExploreContext, runs: list[FittedRun], k: int, label_column: str | None,
                   show_answers: Callable[[list[ModelAnswer], str | None], None]) -> None:
    """Pick a strategy, answer its questions one by one, and see every chosen model's list after each answer."""
    st.markdown("A new user signs up: the sign-up screen asks about one item at a time. Answer as that user would; "
                "after each answer the lists below change, with the reason for each item.")
    left, right = st.columns(2)
    strategy = left.selectbox("How the questions are chosen", list(STRATEGIES),
                              format_func=lambda name: STRATEGIES[name].label, key="onboard-strategy")
    left.caption(f"{STRATEGIES[strategy].label}: {STRATEGIES[strategy].description}.")
    by_id = {r.run_id: r for r in runs}
    able = [run_id for run_id, run in by_id.items() if cannot_ask(context, run) is None]
    asker = right.selectbox("Model that asks (for the model-driven strategy)", list(by_id),
                            index=list(by_id).index(able[0]) if able else 0,  # the first that can fold answers in
                            format_func=lambda r: f"#{r} {by_id[r].label}", key="onboard-asker")
    state = _state(f"onboard-{context.experiment_id}-{strategy}-{asker}")
    answers: dict[str, int] = state["answers"]
    try:
        question = next_question(context, by_id[asker], strategy, answers)
    except ExploreError as error:
        st.error(str(error))
        return
    if question is None:
        st.info("Every item has been asked about.")
    else:
        shown = with_item_attributes(context, pd.DataFrame({"item_id": [question]}))
        title = shown[label_column].iloc[0] if label_column and label_column in shown.columns else question
        st.markdown(f"**Question {len(answers) + 1}: do you know *{title}*?**")
        st.dataframe(shown, hide_index=True)
        buttons = st.columns(4)
        for column, (answer, words) in zip(buttons, ANSWER_WORDS.items()):
            if column.button(words.capitalize(), key=f"onboard-answer-{answer}"):
                state["previous"] = state.get("current", {})
                answers[question] = answer
                st.rerun()
        if buttons[3].button("Start over", key="onboard-reset"):
            st.session_state.pop(f"onboard-{context.experiment_id}-{strategy}-{asker}", None)
            st.rerun()
    if answers:
        given = with_item_attributes(context, pd.DataFrame({"item_id": list(answers),
                                                            "answer": [ANSWER_WORDS[a] for a in answers.values()]}))
        st.markdown(f"**Answers so far** ({sum(a != NEVER_SEEN for a in answers.values())} of {len(answers)} "
                    "questions answered)")
        st.dataframe(given, hide_index=True)
    try:
        lists = recommendations_after(context, runs, answers, k=k)
    except ExploreError as error:
        st.error(str(error))
        return
    state["current"] = {a.run.run_id: a.table["item_id"].tolist() for a in lists
                        if a.not_applicable is None and not a.table.empty}
    show_answers(_marked(lists, state["previous"]) if answers else lists, label_column)
    if answers:
        st.caption("'new' marks items that entered a list with the last answer.")
