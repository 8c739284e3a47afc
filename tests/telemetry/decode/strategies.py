"""Hypothesis strategies shared by the decoder tests."""

from __future__ import annotations

from hypothesis import strategies as st

from telemetry.decode.samples import Sample

# Decoders never make a label name starting with `_` (`__` ones are reserved and refused).
LABEL_NAMES = st.from_regex(r"[a-zA-Z][a-zA-Z0-9_]{0,10}", fullmatch=True)
METRIC_NAMES = st.from_regex(r"[a-zA-Z_:][a-zA-Z0-9_:]{0,15}", fullmatch=True)
# NUL is legal in a label value, but count_prom_text refuses it as the sign of a binary body.
LABEL_VALUES = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1)
SAMPLES = st.builds(
    Sample,
    METRIC_NAMES,
    st.dictionaries(LABEL_NAMES, LABEL_VALUES, max_size=4).map(
        lambda labels: tuple(sorted(labels.items()))
    ),
    st.floats(),
    st.integers(0, 2**62),
)
