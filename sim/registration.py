"""The registered (hukou) population: local-hukou residents and the region's hukou holders who live elsewhere.

The model's agents are residents. A county's registered population (户籍人口) also counts people registered there who
live outside it (students, workers and families in the cities), who are not agents. They are kept as one stock, in
the model's persons (scaled like the agents):

- at the start, the census's registered population less the local-hukou residents of the start population;
- each year it changes by the residents' natural rate (births less deaths per resident: those living away are
  mostly of the same families), gains the local-hukou residents who leave the region, loses the local-hukou
  arrivals (they come back) and loses a share ``transfer_out_rate`` who register elsewhere (settle in a city,
  move their hukou with a job or a marriage).

The registered population is then the local-hukou residents plus this stock. Arrivals of a talent programme who
register here are new registrations, not returns: they are residents with local hukou and leave the stock alone.

Example
-------
>>> away = away_at_start(registered=900.0, local_residents=700.0)
>>> round(next_away(away, natural_rate=0.0, transfer_out_rate=0.05, local_leavers=12.0, local_returns=2.0), 3)
200.0
"""

from __future__ import annotations


def away_at_start(registered: float, local_residents: float) -> float:
    """Hukou holders living outside the region at the start: the census's registered population less the local-hukou
    residents (never below 0: a registered population below the local residents would be a data error elsewhere).

    >>> away_at_start(883_000, 648_000)
    235000.0
    """
    return max(float(registered) - float(local_residents), 0.0)


def next_away(away: float, natural_rate: float, transfer_out_rate: float, local_leavers: float,
              local_returns: float) -> float:
    """The stock living away after one year.

    Parameters
    ----------
    away : the stock at the start of the year.
    natural_rate : the residents' births less deaths over residents this year.
    transfer_out_rate : the share of the stock that registers elsewhere in a year.
    local_leavers, local_returns : local-hukou persons who left the region / came back this year.

    Returns
    -------
    The stock at the end of the year (never below 0: returns cannot exceed those away plus the leavers).

    >>> next_away(100.0, 0.01, 0.0, 0.0, 0.0)
    101.0
    """
    return max(away * (1.0 + natural_rate - transfer_out_rate) + local_leavers - local_returns, 0.0)
