"""The pipeline grammar: parse, print back, errors with a column, options typed."""

from __future__ import annotations

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from furiosa.errors import PassError, PipelineParseError
from furiosa.passes import ModulePass, PassContext, PassRegistry, option, register
from furiosa.passes.pipeline import build_pipeline, format_pipeline, parse_pipeline


@attrs.frozen
class OptionsProbe(ModulePass):
    """A pass that only carries options, for testing the grammar."""

    NAME = "test-options-probe"
    count: int = option(3, "an integer")
    ratio: float = option(0.5, "a float")
    enabled: bool = option(True, "a flag")
    target: str = option("warboy", "a choice", choices=("warboy", "warboy-2pe"))

    def run(self, module, ctx: PassContext) -> None:
        ctx.count("runs")


PASSES = PassRegistry()
register(PASSES)
PASSES.add_pass(OptionsProbe)
PASSES.add_pipeline("test-probes", "test-options-probe,test-options-probe{count=5}",
                    "two probes, for testing named pipelines")
PASSES.add_pipeline("test-nested", "canonicalize,test-probes", "a pipeline naming a pipeline")


@pytest.mark.parametrize("text", [
    "canonicalize",
    "canonicalize,canonicalize",
    "canonicalize{max-iterations=4}",
    "a,b{x=1,y=two},c{z=[1,2,3]}",
    'p{name="with space",f=1.5,b=false}',
    "legalize{target=warboy-2pe}",
    "",
])
def test_round_trip(text: str) -> None:
    assert format_pipeline(parse_pipeline(text)) == text


def test_whitespace_is_ignored() -> None:
    assert format_pipeline(parse_pipeline(" a , b { x = 1 , y = 2 } ")) == "a,b{x=1,y=2}"


@pytest.mark.parametrize(("text", "column"), [
    ("a,", 3), ("a{x}", 4), ("a{x=1", 6), ("a{x=1,x=2}", 7), ("1a", 1), ("a b", 3), ('a{x="}', 5),
])
def test_errors_name_the_column(text: str, column: int) -> None:
    with pytest.raises(PipelineParseError, match=f"column {column}:"):
        parse_pipeline(text)


def test_options_are_typed() -> None:
    (p,) = build_pipeline("test-options-probe{count=7,ratio=2,enabled=false,target=warboy-2pe}", PASSES)
    assert p == OptionsProbe(count=7, ratio=2.0, enabled=False, target="warboy-2pe")
    assert p.pipeline_text() == "test-options-probe{count=7,ratio=2.0,enabled=false,target=warboy-2pe}"
    assert build_pipeline(p.pipeline_text(), PASSES) == [p]
    assert OptionsProbe().pipeline_text() == "test-options-probe"


@pytest.mark.parametrize(("text", "message"), [
    ("no-such-pass", "unknown pass 'no-such-pass'"),
    ("test-options-probe{nope=1}", "has no option 'nope'"),
    ("test-options-probe{count=x}", "option 'count' of pass 'test-options-probe' must be an integer"),
    ("test-options-probe{count=1.5}", "must be an integer"),
    ("test-options-probe{enabled=maybe}", "must be true or false"),
    ("test-options-probe{target=tpu}", "expected one of warboy, warboy-2pe"),
])
def test_bad_options(text: str, message: str) -> None:
    with pytest.raises(PassError, match=message):
        build_pipeline(text, PASSES)


_names = st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True)
_values = st.one_of(st.integers(-1000, 1000), st.booleans(), _names,
                    st.text(alphabet="ab ,{}=\"\\", min_size=1, max_size=6))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(_names, st.dictionaries(_names, _values, max_size=3)), min_size=1, max_size=4))
def test_round_trip_property(elements) -> None:
    text = ",".join(
        name + ("{" + ",".join(f"{k}={format_value(v)}" for k, v in opts.items()) + "}" if opts else "")
        for name, opts in elements)
    parsed = parse_pipeline(text)
    assert format_pipeline(parsed) == text
    assert [dict(e.options) for e in parsed] == [dict(o) for _, o in elements]


def format_value(v: object) -> str:
    from furiosa.passes.pipeline import format_value as fv

    return fv(v)


def test_named_pipeline_expands_to_its_stages() -> None:
    passes = build_pipeline("test-nested", PASSES)
    assert [p.NAME for p in passes] == ["canonicalize", "test-options-probe", "test-options-probe"]
    assert format_pipeline(passes) == "canonicalize,test-options-probe,test-options-probe{count=5}"


def test_named_pipeline_options_reach_the_stages_that_declare_them() -> None:
    passes = build_pipeline("test-probes{ratio=0.25}", PASSES)
    assert [(p.count, p.ratio) for p in passes] == [(3, 0.25), (5, 0.25)]


def test_named_pipeline_rejects_an_option_no_stage_has() -> None:
    with pytest.raises(PassError, match="pipeline 'test-probes' has no stage with option 'bogus'"):
        build_pipeline("test-probes{bogus=1}", PASSES)


def test_a_pipeline_that_contains_itself_is_an_error() -> None:
    registry = PassRegistry()
    registry.add_pipeline("loop", "loop", "names itself")
    with pytest.raises(PassError, match="pipeline 'loop' contains itself"):
        build_pipeline("loop", registry)
