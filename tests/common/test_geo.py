"""Geolocation parsing in its three wire forms, and great-circle distance."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from common.geo import GeoLocation, haversine_km

PITTSBURGH = GeoLocation(latitude=40.4406, longitude=-79.9959)
NEW_YORK = GeoLocation(latitude=40.7128, longitude=-74.0060)


@pytest.mark.parametrize(
    "value",
    [
        {"latitude": 40.4406, "longitude": -79.9959},
        [40.4406, -79.9959],
        (40.4406, -79.9959),
        "40.4406,-79.9959",
        " 40.4406 , -79.9959 ",
    ],
    ids=["object", "list", "tuple", "header", "header-spaces"],
)
def test_parses_object_pair_and_header(value: object) -> None:
    assert GeoLocation.model_validate(value) == PITTSBURGH


@pytest.mark.parametrize(
    "value",
    ["40.4", "40.4,", ",1", "1,2,3", "north,west", [1.0], [1.0, 2.0, 3.0], "91,0", "0,181"],
)
def test_rejects_malformed_and_out_of_range(value: object) -> None:
    with pytest.raises(ValidationError):
        GeoLocation.model_validate(value)


def test_from_header_is_the_x_location_form() -> None:
    assert GeoLocation.from_header("-33.8688,151.2093").as_pair() == (-33.8688, 151.2093)


def test_distance_matches_known_city_pair() -> None:
    # Pittsburgh to New York is about 500 km as the crow flies.
    assert PITTSBURGH.distance_km(NEW_YORK) == pytest.approx(507, abs=5)
    assert NEW_YORK.distance_km(PITTSBURGH) == pytest.approx(PITTSBURGH.distance_km(NEW_YORK))


def test_distance_edge_cases() -> None:
    assert PITTSBURGH.distance_km(PITTSBURGH) == 0.0
    # Antipodes: half the Earth's circumference, without a math domain error.
    assert haversine_km(0.0, 0.0, 0.0, 180.0) == pytest.approx(20015, abs=2)
    assert haversine_km(89.9, 0.0, 89.9, 180.0) == pytest.approx(22.2, abs=0.2)
