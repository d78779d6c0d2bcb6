"""The built-in house table: made-up King County sales with the real CSV's columns."""

from __future__ import annotations

import numpy as np

from dlcli.data.houses import Columns
from dlcli.errors import DataError


def synthetic_houses(n: int, rng: np.random.Generator) -> Columns:
    """``n`` made-up King County sales with the CSV's columns (``(n,)`` each, same as the reader).

    Sizes are log-normal with ``sqft_above + sqft_basement == sqft_living``; grade follows size;
    70 zipcodes each have a centre (lat/long cluster around it) and a premium. Log price adds a
    location value (zipcode premium, northness, a curved distance to downtown), log size with a
    slope that grows with location value, a convex grade premium, waterfront/view/condition, a
    U-shaped age effect and N(0, 0.15) noise: a linear model gets a clearly positive R², a
    nonlinear one more.
    """
    if n < 1:
        raise DataError(f"houses-synthetic: needs at least 1 row, got n={n}")
    zip_codes = np.sort(rng.choice(np.arange(98001, 98200), size=70, replace=False))
    centre_lat = rng.uniform(47.18, 47.78, 70)
    centre_long = -122.45 + 0.7 * rng.uniform(0, 1, 70) ** 2  # most homes lie in the west
    zip_premium = rng.normal(0.0, 0.12, 70)  # what the location field below misses
    z = rng.choice(70, size=n, p=rng.dirichlet(np.full(70, 3.0)))
    lat = centre_lat[z] + rng.normal(0, 0.015, n)
    long = centre_long[z] + rng.normal(0, 0.02, n)
    # Degrees of latitude to Seattle downtown; a degree of longitude is ~0.67 as long here.
    dist = np.hypot(lat - 47.61, 0.67 * (long + 122.33))

    size_z = rng.normal(0, 1, n)
    living = np.round(np.clip(1900 * np.exp(0.42 * size_z), 370, 13500), -1)
    basement = np.where(rng.random(n) < 0.4, np.round(living * rng.uniform(0.2, 0.5, n), -1), 0)
    lot = np.round(np.clip(7600 * np.exp(rng.normal(0, 0.9, n) + 1.5 * dist), 520, 1.6e6))
    grade = np.clip(np.round(7.6 + 0.8 * size_z + rng.normal(0, 0.7, n)), 3, 13)
    bedrooms = np.clip(np.round(3.4 + 0.7 * size_z + rng.normal(0, 0.6, n)), 1, 10)
    bathrooms = np.clip(np.round(4 * (2.1 + 0.5 * size_z + rng.normal(0, 0.4, n))) / 4, 0.5, 8)
    floors = rng.choice([1, 1.5, 2, 2.5, 3, 3.5], n, p=[0.5, 0.09, 0.37, 0.01, 0.027, 0.003])
    waterfront = (rng.random(n) < 0.008).astype(float)
    view = np.where(waterfront > 0, rng.choice([3, 4], n),
                    rng.choice(5, n, p=[0.9, 0.015, 0.045, 0.025, 0.015]))
    condition = rng.choice([1, 2, 3, 4, 5], n, p=[0.002, 0.008, 0.65, 0.26, 0.08])
    day = rng.integers(0, 390, n)  # sales from 2014-05-02 over about 13 months
    sale_year = 2014 + (day > 243)
    yr_built = np.clip(np.round(1971 + 29 * rng.normal(0, 1, n)), 1900, sale_year)
    renovated = (rng.random(n) < 0.045) & (yr_built < sale_year - 15)
    yr_renovated = np.where(renovated, np.minimum(yr_built + rng.integers(15, 80, n), sale_year), 0)
    age = sale_year - np.maximum(yr_built, yr_renovated)

    # Pricier places also pay more per square foot: the size slope grows with the location value.
    place = zip_premium[z] + 0.8 * (lat - 47.5) - 2.2 * dist + 2.0 * dist**2
    log_price = (13.2 + (0.45 + 0.5 * place) * np.log(living / 1900) + place
                 + 0.1 * (grade - 7) + 0.06 * np.maximum(grade - 8, 0) ** 2 + 0.4 * waterfront
                 + 0.07 * view + 0.05 * (condition - 3) + 0.15 * ((age - 50) / 40) ** 2
                 + 0.04 * np.log(lot / 7600) + rng.normal(0, 0.15, n))
    return {
        "id": rng.integers(1_000_000, 9_900_000_000, n).astype(float),
        "date": np.datetime64("2014-05-02") + day.astype("timedelta64[D]"),
        "price": np.round(np.exp(log_price), -2), "bedrooms": bedrooms, "bathrooms": bathrooms,
        "sqft_living": living, "sqft_lot": lot, "floors": floors, "waterfront": waterfront,
        "view": view.astype(float), "condition": condition.astype(float), "grade": grade,
        "sqft_above": living - basement, "sqft_basement": basement,
        "yr_built": yr_built.astype(float), "yr_renovated": yr_renovated.astype(float),
        "zipcode": zip_codes[z].astype(float), "lat": np.round(lat, 4), "long": np.round(long, 3),
        "sqft_living15": np.round(np.sqrt(living * 1900) * np.exp(rng.normal(0, 0.15, n)), -1),
        "sqft_lot15": np.round(lot * np.exp(rng.normal(0, 0.3, n))),
    }
