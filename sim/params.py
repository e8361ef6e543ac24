"""Behavioural parameters of the model, typed and range-checked.

The values live in ``configs/<region>/params.yaml`` (each with its meaning and source); this
module only defines what a valid set looks like. Every field has a default so a region can run without the
file; the defaults are neutral: national figures of China's 2020 census where the parameter is a demographic
fact, generic estimates otherwise, never one region's values. docs/region-format.md lists them with their basis,
and ``run.py check-config`` lists every parameter a region takes from them.
"""

from __future__ import annotations

import typing
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

FACTOR = ".factor"
"""Suffix of a dotted name that scales a parameter instead of setting it: ``{"markets.job_growth.factor": 1.5}``
multiplies every number of ``markets.job_growth`` by 1.5. It lets sweeps, sensitivity, calibration and history
matching vary a parameter that takes several numbers (a sector's job growth, recruiting rates) by one number."""


class _P(BaseModel):
    # no NaN or infinity: a .nan in params.yaml would run, and spread through every account. Defaults are checked
    # too: a rule between two fields (shares of one whole) must hold when the file gives only one of them
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, validate_default=True)


# The parts of the parameters that are tuples, each number checked as the scalar parameters are
Share = Annotated[float, Field(ge=0, le=1)]
Age = Annotated[int, Field(ge=0, le=100)]
Year = Annotated[int, Field(ge=1950, le=2100)]
GrowthRate = Annotated[float, Field(ge=-0.5, le=0.5)]        # a sector's jobs, per year: at most halved or 1.5x
Wage = Annotated[float, Field(gt=0)]
LifeExpectancy = Annotated[float, Field(gt=40, lt=100)]
Fertility = Annotated[float, Field(ge=0, le=8)]
EDUCATION_AGE_MIN = 15  # the youngest education_age: the end of compulsory schooling (九年义务教育)
SHARES_TOLERANCE = 0.01  # shares are typed rounded (0.55, 0.33, 0.12): their sum may miss 1 by this much


def _shares(values: tuple[float, ...]) -> tuple[float, ...]:
    """Shares of one whole: their sum is 1, within :data:`SHARES_TOLERANCE`."""
    if abs(sum(values) - 1.0) > SHARES_TOLERANCE:
        raise ValueError(f"shares of one whole must add up to 1 (these add up to {sum(values):.4g}: {list(values)})")
    return values


def _ages(values: tuple[int, int]) -> tuple[int, int]:
    if values[0] > values[1]:
        raise ValueError(f"an age range is (youngest, oldest); got {list(values)}")
    return values


def _path(points: tuple[tuple[int, float], ...]) -> tuple[tuple[int, float], ...]:
    years = [y for y, _ in points]
    if any(b <= a for a, b in zip(years, years[1:])):
        raise ValueError(f"a path's (year, value) points must be in increasing years; got years {years}")
    return points


def _unbox(annotation):
    """The plain type under ``Annotated[...]`` (a checked number is still a number)."""
    return typing.get_args(annotation)[0] if typing.get_origin(annotation) is Annotated else annotation


class Demography(_P):
    life_expectancy: float = Field(77.93, gt=40, lt=100)         # both sexes, start year, without a path; China 2020
    # (year, both-sex e0) points, interpolated (replaces the above)
    life_expectancy_path: tuple[tuple[Year, LifeExpectancy], ...] = ()
    life_expectancy_gain: float = Field(0.2, ge=-1, le=1)        # years of e0 gained a year (after the path's last point)
    life_expectancy_sex_gap: float = Field(5.51, ge=0, le=20)    # women minus men; China 2020: 80.88 - 75.37
    tfr_path: tuple[tuple[Year, Fertility], ...] = ()            # (year, TFR) points, interpolated; empty = constant tfr
    gompertz_slope: float = Field(0.095, gt=0.01, lt=0.2)
    tfr: float = Field(1.3, ge=0, le=8)                          # China 2020 census
    fertility_peak_age: float = Field(29.0, ge=18, le=40)
    fertility_spread: float = Field(5.5, gt=1, le=15)
    sex_ratio_at_birth: float = Field(111.3, gt=80, lt=140)      # China 2020 census
    leave_home_rate: float = Field(0.03, ge=0, le=1)
    leave_home_ages: tuple[Age, Age] = (22, 35)
    partnership_rate: float = Field(0.15, ge=0, le=1)
    partnership_ages: tuple[Age, Age] = (20, 49)
    separation_rate: float = Field(0.012, ge=0, le=1)
    births_to_partnered_share: float = Field(0.95, ge=0, le=1)

    _paths = field_validator("life_expectancy_path", "tfr_path")(_path)
    _age_ranges = field_validator("leave_home_ages", "partnership_ages")(_ages)


class Population(_P):
    # 1..6 persons: mean 2.59; China 2020: 2.62
    household_size_shares: tuple[Share, ...] = Field((0.25, 0.30, 0.21, 0.13, 0.07, 0.04), min_length=1, max_length=20)
    male_share: float = Field(105.07 / 205.07, gt=0, lt=1)       # China 2020 census: 105.07 men per 100 women
    migrant_share: float = Field(375.82 / 1411.78, ge=0, le=1)   # China 2020 census: 流动人口 375.82 of 1411.78 million
    # Education (sim.education): the share of a birth cohort with higher education (大专及以上) is a line in the birth
    # year through the 1995 cohort's share, kept between a floor and a ceiling; migrants reach a fraction of it.
    # Defaults are generic (a region fits its own, sim.education.fit_education): on a population aged as China's in
    # 2020 with a quarter migrants they give 15.4% of residents with higher education (the census: 15.47%).
    higher_education_1995: float = Field(0.47, ge=0, le=1)       # local-hukou residents born in 1995
    higher_education_trend: float = Field(0.012, ge=-0.05, le=0.05)  # change per later birth year
    higher_education_min: float = Field(0.01, ge=0, le=1)        # the oldest cohorts
    higher_education_max: float = Field(0.6, ge=0, le=1)         # the youngest cohorts
    higher_education_migrant_factor: float = Field(0.42, ge=0, le=3)  # migrants' share as a multiple of locals'
    middle_skill_share_local: float = Field(0.375, ge=0, le=1)   # of those without higher education: middle skill
    middle_skill_share_migrant: float = Field(0.26, ge=0, le=1)
    education_age: int = Field(18, ge=EDUCATION_AGE_MIN, le=30)    # the age at which a person's education is settled
    employment_rate: float = Field(0.80, ge=0, le=1)
    owner_share_local: float = Field(0.85, ge=0, le=1)
    dorm_share_migrant: float = Field(0.25, ge=0, le=1)
    owner_share_migrant: float = Field(0.15, ge=0, le=1)
    migrant_years_mean: float = Field(6.0, ge=0, le=30)
    couple_share: float = Field(0.8, ge=0, le=1)
    aged_60_64_share_of_60plus: float = Field((18.70 - 13.50) / 18.70, gt=0, lt=1)  # China 2020 census
    aged_80_plus_share_of_60plus: float = Field(2.54 / 18.70, gt=0, lt=1)  # China 2020 census: 80+ 2.54% of residents

    _whole = field_validator("household_size_shares")(_shares)

    @field_validator("higher_education_max")
    @classmethod
    def _floor_below_ceiling(cls, top: float, info: ValidationInfo) -> float:
        floor = info.data.get("higher_education_min", 0.0)
        if top < floor:
            raise ValueError(f"higher_education_max must be at least higher_education_min; got {top:g} < {floor:g}")
        return top

    @field_validator("owner_share_migrant")
    @classmethod
    def _tenures_of_a_whole(cls, owner: float, info: ValidationInfo) -> float:
        dorm = info.data.get("dorm_share_migrant", 0.0)  # absent when it failed its own check
        if owner + dorm > 1 + 1e-9:
            raise ValueError(f"owner_share_migrant + dorm_share_migrant must be at most 1 (the rest of the migrant "
                             f"households rent); got {owner:g} + {dorm:g}")
        return owner

    @field_validator("aged_80_plus_share_of_60plus")
    @classmethod
    def _ages_of_a_whole(cls, oldest: float, info: ValidationInfo) -> float:
        youngest = info.data.get("aged_60_64_share_of_60plus", 0.0)
        if youngest + oldest >= 1:
            raise ValueError("aged_60_64_share_of_60plus + aged_80_plus_share_of_60plus must be below 1 (the rest of "
                             f"the 60+ are 65-79); got {youngest:g} + {oldest:g}")
        return oldest


class Markets(_P):
    job_growth: tuple[GrowthRate, GrowthRate, GrowthRate] = (-0.03, 0.01, 0.025)
    wage_by_skill: tuple[Wage, Wage, Wage] = (55000.0, 80000.0, 130000.0)
    wage_dispersion: float = Field(0.35, ge=0, le=2)
    pension_yuan: float = Field(18000.0, ge=0)
    commute_decay_per_min: float = Field(0.05, ge=0, le=1)
    external_jobs_per_resident: float = Field(0.55, ge=0, le=1)
    wage_tightness_elasticity: float = Field(0.5, ge=0, le=3)


class Housing(_P):
    price_elasticity: float = Field(0.8, ge=0, le=5)
    target_vacancy: float = Field(0.10, gt=0, lt=0.5)
    price_min: float = Field(0.5, gt=0, le=1)
    price_max: float = Field(2.0, ge=1, le=10)
    price_max_change: float = Field(0.10, gt=0, le=1)
    construction_response: float = Field(0.05, ge=0, le=1)
    shortage_construction: float = Field(0.2, ge=0, le=5)
    max_build_rate: float = Field(0.08, ge=0, le=1)
    urban_capacity_factor: float = Field(1.5, ge=1, le=10)
    rural_capacity_factor: float = Field(1.0, ge=1, le=10)
    rural_demolition_rate: float = Field(0.1, ge=0, le=1)
    held_vacant_share: float = Field(0.0, ge=0, lt=1)


class Labour(_P):
    separation_rate: float = Field(0.05, ge=0, le=1)
    retirement_age: int = Field(65, ge=40, le=80)
    search_rate_inactive: float = Field(0.2, ge=0, le=1)
    search_rate_unemployed: float = Field(0.7, ge=0, le=1)
    commute_max_minutes: float = Field(90.0, gt=0, le=300)
    commute_decay_per_min: float = Field(0.2, gt=0, le=1)  # > 0: commute minutes are -log(weight) / decay
    external_openings_per_1000_jobs: float = Field(0.8, ge=0, le=100)
    out_commuter_share_start: float = Field(0.05, ge=0, le=1)
    unemployment_rate_start: float = Field(0.02, ge=0, le=0.5)
    in_commute_fill_rate: float = Field(0.2, ge=0, le=1)
    recruit_rate: tuple[Share, Share, Share] = (0.3, 0.6, 0.4)
    normal_vacancy_rate: float = Field(0.03, ge=0, le=0.5)
    vacancy_feedback: float = Field(0.5, ge=0, le=5)
    vacancy_memory_weight: float = Field(0.5, gt=0, le=1)
    local_multiplier: float = Field(1.0, ge=0, le=5)


class Moves(_P):
    consider_rate_young: float = Field(0.12, ge=0, le=1)
    consider_rate_mid: float = Field(0.05, ge=0, le=1)
    consider_rate_old: float = Field(0.015, ge=0, le=1)
    tenure_factor_owner: float = Field(0.5, ge=0, le=10)
    tenure_factor_renter: float = Field(1.8, ge=0, le=10)
    tenure_factor_dorm: float = Field(2.5, ge=0, le=10)
    beta_access: float = 1.2
    beta_wage: float = 0.8
    beta_price: float = 0.9
    beta_services: float = 1.0
    beta_vacancy: float = 0.6
    beta_distance_per_hour: float = 1.5
    beta_urban: float = 0.4
    beta_size: float = Field(1.0, ge=0, le=2)
    beta_commute_per_hour: float = 3.0
    jobless_consider_factor: float = Field(2.0, ge=0, le=20)
    newcomer_consider_factor: float = Field(2.0, ge=0, le=20)
    newcomer_years: int = Field(2, ge=0, le=30)
    constants_weight: float = Field(1.0, ge=0, le=1)
    beta_jobless_leave: float = 1.0
    stay_bonus: float = 2.5
    local_ties: float = 0.8
    leave_constant: float = 0.6
    leave_migrant: float = 0.8
    hukou_openness: float = Field(0.0, ge=0, le=1)
    beta_hukou: float = 0.3


class Migration(_P):
    nonlabour_per_1000_persons: float = Field(6.0, ge=0, le=200)
    size_shares: tuple[Share, Share, Share] = (0.45, 0.30, 0.25)
    recruit_household_shares: tuple[Share, Share, Share, Share] = (0.5, 0.2, 0.2, 0.1)
    recruit_dorm_share: float = Field(0.6, ge=0, le=1)
    recruit_local_hukou_share: float = Field(0.05, ge=0, le=1)
    age_mean: float = Field(30.0, ge=16, le=60)
    age_sd: float = Field(7.0, gt=0, le=20)
    local_hukou_share: float = Field(0.15, ge=0, le=1)

    _whole = field_validator("size_shares", "recruit_household_shares")(_shares)


class Hukou(_P):
    conversion_rate: float = Field(0.01, ge=0, le=1)
    min_years: int = Field(5, ge=0, le=30)
    owner_factor: float = Field(3.0, ge=0, le=20)
    openness_gain: float = Field(4.0, ge=0, le=50)
    # the share of the region's hukou holders living elsewhere who register elsewhere in a year (sim.registration)
    transfer_out_rate: float = Field(0.0, ge=0, le=0.5)


class Urbanisation(_P):
    rural_to_urban_rate: float = Field(0.012, ge=0, le=1)
    response: float = Field(1.0, ge=0, le=5)


class Params(_P):
    """All behavioural parameters; see ``configs/<region>/params.yaml`` for meanings and sources."""

    demography: Demography = Demography()
    population: Population = Population()
    markets: Markets = Markets()
    housing: Housing = Housing()
    labour: Labour = Labour()
    moves: Moves = Moves()
    migration: Migration = Migration()
    hukou: Hukou = Hukou()
    urbanisation: Urbanisation = Urbanisation()

    def with_overrides(self, overrides: dict[str, float]) -> "Params":
        """A copy with dotted-name overrides, e.g. ``{"demography.tfr": 0.9}`` (for levers and sweeps). A name ending
        in ``.factor`` (:data:`FACTOR`) multiplies the parameter's numbers instead, after the plain overrides.

        Example
        -------
        >>> Params().with_overrides({"demography.tfr": 0.9}).demography.tfr
        0.9
        >>> Params().with_overrides({"markets.job_growth.factor": 2.0}).markets.job_growth
        (-0.06, 0.02, 0.05)
        """
        data = self.model_dump()
        # plain overrides first, so that a factor scales the value the run uses
        for key, value in sorted(overrides.items(), key=lambda kv: split_factor(kv[0])[1]):
            target, factor = split_factor(key)
            section, _, name = target.partition(".")
            if section not in data or name not in data[section]:
                raise KeyError(f"unknown parameter {key!r} (expected section.name, e.g. demography.tfr)")
            if factor:
                if not scalable(target):
                    raise KeyError(f"{key!r}: only a parameter of decimal numbers can be scaled ({target} is not)")
                old, value = data[section][name], float(value)
                data[section][name] = tuple(v * value for v in old) if isinstance(old, tuple) else old * value
            else:
                data[section][name] = value
        return Params.model_validate(data)


def split_factor(name: str) -> tuple[str, bool]:
    """The parameter a dotted name refers to, and whether the name scales it (ends in :data:`FACTOR`).

    >>> split_factor("markets.job_growth.factor"), split_factor("demography.tfr")
    (('markets.job_growth', True), ('demography.tfr', False))
    """
    return (name[:-len(FACTOR)], True) if name.endswith(FACTOR) else (name, False)


def field_type(name: str):
    """The type of the parameter ``section.name`` (``float``, ``int``, ``tuple[float, ...]``...), or None if there is
    no such parameter.

    >>> field_type("labour.retirement_age"), field_type("moves.nope")
    (<class 'int'>, None)
    """
    section, _, field = name.partition(".")
    sub = Params.model_fields.get(section)
    info = sub.annotation.model_fields.get(field) if sub is not None else None
    return None if info is None else info.annotation


def scalable(name: str) -> bool:
    """Whether ``section.name`` takes decimal numbers only (one, or a fixed or open-ended tuple of them), so that
    ``section.name.factor`` can scale it.

    >>> scalable("markets.job_growth"), scalable("moves.beta_access"), scalable("labour.retirement_age")
    (True, True, False)
    >>> scalable("demography.tfr_path")  # (year, value) pairs
    False
    """
    annotation = field_type(name)
    if annotation is float:
        return True
    args = typing.get_args(annotation)
    return (typing.get_origin(annotation) is tuple and bool(args)
            and all(_unbox(a) is float or a is Ellipsis for a in args))


def parameter_value(params: Params, name: str):
    """The value a dotted name stands for in ``params``: the parameter's own value, or 1.0 for a ``.factor`` name
    (an unscaled parameter).

    >>> parameter_value(Params(), "demography.tfr"), parameter_value(Params(), "markets.job_growth.factor")
    (1.3, 1.0)
    """
    target, factor = split_factor(name)
    if factor:
        return 1.0
    section, _, field = target.partition(".")
    return getattr(getattr(params, section), field)
