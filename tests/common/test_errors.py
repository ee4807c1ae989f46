"""The exception tree: statuses, problem types, and the round trip through a problem body."""

from __future__ import annotations

import pytest

from common import errors
from common.errors import (
    NoEligibleCloudletError,
    NotFoundError,
    RecipeNotFoundError,
    RequestValidationFailedError,
    SinfoniaError,
    UpstreamRejectedError,
    error_from_problem,
)
from common.problem import FieldError, Problem


def every_error_class() -> list[type[SinfoniaError]]:
    return [
        value
        for value in vars(errors).values()
        if isinstance(value, type) and issubclass(value, SinfoniaError)
    ]


def build(cls: type[SinfoniaError]) -> SinfoniaError:
    if cls is RequestValidationFailedError:
        return cls([FieldError(loc=["body", "app"], msg="bad", type="uuid_parsing")])
    if cls is UpstreamRejectedError:
        return cls(Problem(title="Not found", status=404))
    return cls("something specific")


def test_problem_types_are_unique_and_stable() -> None:
    types = [cls.problem_type() for cls in every_error_class()]
    assert len(types) == len(set(types))
    assert RecipeNotFoundError.problem_type() == "urn:sinfonia:problem:recipe-not-found"


@pytest.mark.parametrize("cls", every_error_class(), ids=lambda cls: cls.__name__)
def test_every_error_survives_the_trip_through_a_problem_body(cls: type[SinfoniaError]) -> None:
    original = build(cls)
    wire = Problem.model_validate_json(original.to_problem(instance="/x").model_dump_json())
    assert wire.status == cls.status
    assert wire.retryable is cls.retryable
    assert wire.instance == "/x"
    rebuilt = error_from_problem(wire)
    assert type(rebuilt) is cls
    assert rebuilt.detail == original.detail


def test_status_codes_follow_the_tree() -> None:
    assert issubclass(RecipeNotFoundError, NotFoundError)
    assert RecipeNotFoundError.status == 404
    assert NoEligibleCloudletError.status == 503
    assert NoEligibleCloudletError.retryable


def test_no_eligible_cloudlet_carries_reasons() -> None:
    error = NoEligibleCloudletError(
        "no cloudlet accepts this client", {"client-networks": ["edge-1", "edge-2"]}
    )
    problem = error.to_problem()
    assert problem.reasons == {"client-networks": ["edge-1", "edge-2"]}
    rebuilt = error_from_problem(Problem.model_validate(problem.to_json_dict()))
    assert isinstance(rebuilt, NoEligibleCloudletError)
    assert rebuilt.reasons == {"client-networks": ["edge-1", "edge-2"]}


def test_upstream_rejection_keeps_the_peers_problem() -> None:
    peer = RecipeNotFoundError("no recipe for 1234").to_problem()
    problem = UpstreamRejectedError(peer).to_problem()
    rebuilt = error_from_problem(Problem.model_validate(problem.to_json_dict()))
    assert isinstance(rebuilt, UpstreamRejectedError)
    assert rebuilt.upstream.type == RecipeNotFoundError.problem_type()
    assert rebuilt.upstream.detail == "no recipe for 1234"


def test_unknown_problem_types_fall_back_to_the_status() -> None:
    from_status = error_from_problem(
        Problem(type="https://other.example/teapot", title="x", status=404)
    )
    assert type(from_status) is NotFoundError
    unknown = error_from_problem(Problem(title="I'm a teapot", status=418, detail="short"))
    assert type(unknown) is SinfoniaError
    assert unknown.detail == "short"


def test_problem_bodies_omit_absent_members_and_keep_extensions() -> None:
    body = Problem.model_validate(
        {"type": "about:blank", "title": "x", "status": 400, "trace": "abc"}
    ).to_json_dict()
    assert body == {
        "type": "about:blank",
        "title": "x",
        "status": 400,
        "retryable": False,
        "trace": "abc",
    }


@pytest.mark.parametrize("status", [200, 302, 600])
def test_problem_status_is_an_error_status(status: int) -> None:
    with pytest.raises(ValueError, match="status"):
        Problem(title="x", status=status)
