"""How the operators' pages write numbers: coordinates at 5 decimals (about a metre), distances in whole metres or
km with 2 decimals, money in integer rupiah with comma thousands separators and "IDR"."""

from nebengjek.templatetags.numbers import thousands

EMPTY = "-"


def coordinate(value: float | None) -> str:
    return EMPTY if value is None else f"{value:.5f}"


def point(lat: float | None, lng: float | None) -> str:
    return EMPTY if lat is None or lng is None else f"{coordinate(lat)}, {coordinate(lng)}"


def distance(metres: float | None) -> str:
    """850 m, 1.11 km: an operator reads a ride's length in km, a GPS segment in metres."""
    if metres is None:
        return EMPTY
    return f"{metres / 1000:,.2f} km" if metres >= 1000 else f"{round(metres)} m"


def rupiah(amount: int | None, *, signed: bool = False) -> str:
    if amount is None:
        return EMPTY
    return f"{'+' if signed and amount > 0 else ''}{thousands(amount)} IDR"
