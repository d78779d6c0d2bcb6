"""The built-in house table: made-up King County sales with the real CSV's columns."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from dlcli.data import Dataset
from dlcli.data.houses import Columns, dataset_from_parts, encode_houses, split_counts
from dlcli.errors import DataError

if TYPE_CHECKING:
    from dlcli.config.data import HousesSyntheticData

FRACTION_ROWS = 10_000  # the rows split when the config gives fractions
FIRST_DAY = np.datetime64("2014-05-02")  # sales run from here over about 13 months


class World(NamedTuple):
    """What every sale shares: 70 zipcodes (sorted), their centres, premiums and weights."""

    zip_codes: np.ndarray  # (70,)
    centre_lat: np.ndarray
    centre_long: np.ndarray
    zip_premium: np.ndarray
    zip_weight: np.ndarray


def synthetic_world(rng: np.random.Generator) -> World:
    zip_codes = np.sort(rng.choice(np.arange(98001, 98200), size=70, replace=False))
    centre_lat = rng.uniform(47.18, 47.78, 70)
    centre_long = -122.45 + 0.7 * rng.uniform(0, 1, 70) ** 2  # most homes lie in the west
    zip_premium = rng.normal(0.0, 0.12, 70)  # what the location field below misses
    return World(zip_codes, centre_lat, centre_long, zip_premium, rng.dirichlet(np.full(70, 3.0)))


def houses_synthetic_dataset(cfg: HousesSyntheticData, seed: int) -> Dataset:
    """The ``houses-synthetic`` source: one world and three splits, each from its own child
    stream of ``SeedSequence([seed, 1])``, so the training rows depend on (seed, num_train)
    only: changing ``num_val`` or ``num_test`` never changes them. Zipcode columns are the
    world's 70 codes and ``sale_days`` counts from ``FIRST_DAY``, neither read off the rows.
    Counts give the rows generated; fractions split ``FRACTION_ROWS``.
    """
    sizes = (cfg.num_train, cfg.num_val, cfg.num_test)
    n = int(sum(sizes)) if all(isinstance(v, int) for v in sizes) else FRACTION_ROWS
    counts = split_counts(n, *sizes, source="houses-synthetic")
    world_rng, *split_rngs = (np.random.default_rng(s)
                              for s in np.random.SeedSequence([seed, 1]).spawn(4))
    world = synthetic_world(world_rng)
    parts = [synthetic_rows(k, world, r) for k, r in zip(counts, split_rngs, strict=True)]
    table = encode_houses({c: np.concatenate([p[c] for p in parts]) for c in parts[0]},
                          features=cfg.features, date=cfg.date, zipcode=cfg.zipcode,
                          zip_codes=world.zip_codes.astype(np.float64), first_day=FIRST_DAY)
    ends = np.cumsum(counts)
    train, val, test = np.split(np.arange(ends[-1]), ends[:2])
    return dataset_from_parts(table, (train, val, test), log_target=cfg.log_target)


def synthetic_houses(n: int, rng: np.random.Generator) -> Columns:
    """``n`` made-up King County sales with the CSV's columns (``(n,)`` each, same as the reader),
    in a world of their own drawn from ``rng`` first."""
    if n < 1:
        raise DataError(f"houses-synthetic: needs at least 1 row, got n={n}")
    return synthetic_rows(n, synthetic_world(rng), rng)


def synthetic_rows(n: int, world: World, rng: np.random.Generator) -> Columns:
    """``n >= 0`` made-up sales in ``world``: the CSV's columns, ``(n,)`` each.

    Sizes are log-normal with ``sqft_above + sqft_basement == sqft_living``; grade follows size;
    70 zipcodes each have a centre (lat/long cluster around it) and a premium. Log price adds a
    location value (zipcode premium, northness, a curved distance to downtown), log size with a
    slope that grows with location value, a convex grade premium, waterfront/view/condition, a
    U-shaped age effect and N(0, 0.15) noise: a linear model gets a clearly positive R², a
    nonlinear one more.
    """
    z = rng.choice(70, size=n, p=world.zip_weight)
    lat = world.centre_lat[z] + rng.normal(0, 0.015, n)
    long = world.centre_long[z] + rng.normal(0, 0.02, n)
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
    day = rng.integers(0, 390, n)  # days after FIRST_DAY
    sale_year = 2014 + (day > 243)
    yr_built = np.clip(np.round(1971 + 29 * rng.normal(0, 1, n)), 1900, sale_year)
    renovated = (rng.random(n) < 0.045) & (yr_built < sale_year - 15)
    yr_renovated = np.where(renovated, np.minimum(yr_built + rng.integers(15, 80, n), sale_year), 0)
    age = sale_year - np.maximum(yr_built, yr_renovated)

    # Pricier places also pay more per square foot: the size slope grows with the location value.
    place = world.zip_premium[z] + 0.8 * (lat - 47.5) - 2.2 * dist + 2.0 * dist**2
    log_price = (13.2 + (0.45 + 0.5 * place) * np.log(living / 1900) + place
                 + 0.1 * (grade - 7) + 0.06 * np.maximum(grade - 8, 0) ** 2 + 0.4 * waterfront
                 + 0.07 * view + 0.05 * (condition - 3) + 0.15 * ((age - 50) / 40) ** 2
                 + 0.04 * np.log(lot / 7600) + rng.normal(0, 0.15, n))
    return {
        "id": rng.integers(1_000_000, 9_900_000_000, n).astype(float),
        "date": FIRST_DAY + day.astype("timedelta64[D]"),
        "price": np.round(np.exp(log_price), -2), "bedrooms": bedrooms, "bathrooms": bathrooms,
        "sqft_living": living, "sqft_lot": lot, "floors": floors, "waterfront": waterfront,
        "view": view.astype(float), "condition": condition.astype(float), "grade": grade,
        "sqft_above": living - basement, "sqft_basement": basement,
        "yr_built": yr_built.astype(float), "yr_renovated": yr_renovated.astype(float),
        "zipcode": world.zip_codes[z].astype(float), "lat": np.round(lat, 4),
        "long": np.round(long, 3),
        "sqft_living15": np.round(np.sqrt(living * 1900) * np.exp(rng.normal(0, 0.15, n)), -1),
        "sqft_lot15": np.round(lot * np.exp(rng.normal(0, 0.3, n))),
    }
