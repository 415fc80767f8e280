"""Regions of the live GEO index: H3 cells at settings.LIVE_REGION_H3_RES. Each cell's drivers sit under keys
hash-tagged with the cell, so a Redis Cluster spreads one city's cells over its masters; a search asks every
cell its radius can touch."""

import math
from functools import lru_cache

import h3
from django.conf import settings

from locations.geo import haversine_m


def region_res() -> int:
    return settings.LIVE_REGION_H3_RES


def region_of(lat: float, lng: float) -> str:
    """The H3 cell (hex string) of a position: the region its driver is indexed in."""
    return h3.latlng_to_cell(lat, lng, region_res())


@lru_cache(maxsize=65536)
def _cell_center_and_reach(cell: str) -> tuple[float, float, float]:
    """(centre lat, centre lng, the farthest vertex's distance from the centre in metres)."""
    lat, lng = h3.cell_to_latlng(cell)
    reach = max(haversine_m(lat, lng, vlat, vlng) for vlat, vlng in h3.cell_to_boundary(cell))
    return lat, lng, reach


@lru_cache(maxsize=32)
def _edge_m(res: int) -> float:
    return h3.average_hexagon_edge_length(res, unit="m")


def regions_near(lat: float, lng: float, radius_m: float) -> list[str]:
    """Every region a circle of `radius_m` around (lat, lng) may touch, its own first: the cells of a grid disk
    wide enough for the radius whose centre is within the radius plus the cell's own reach (a cell only grazed
    is asked too; one that cannot be touched is not)."""
    res = region_res()
    own = h3.latlng_to_cell(lat, lng, res)
    edge = _edge_m(res)
    rings = math.ceil(radius_m / (1.5 * edge) + 1.5)
    cells = [own]
    for cell in h3.grid_disk(own, rings):
        if cell == own:
            continue
        clat, clng, reach = _cell_center_and_reach(cell)
        if haversine_m(lat, lng, clat, clng) - reach <= radius_m:
            cells.append(cell)
    return cells
