"""The 2025 administrative map: 34 provinces and 3,321 commune-level units.

Everything comes from the ``vietnam-provinces`` package (the official 2025 codes), never from
a hand-made list. Codes are zero-padded strings as they are written on paper and in
reports: province ``"01"``, commune ``"00070"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

import vietnam_provinces as vp

__all__ = [
    "Commune",
    "Province",
    "ReferenceData",
    "commune_code",
    "load_reference",
    "province_code",
]

PROVINCE_CODE_WIDTH = 2
COMMUNE_CODE_WIDTH = 5


def province_code(number: int) -> str:
    return str(int(number)).zfill(PROVINCE_CODE_WIDTH)


def commune_code(number: int) -> str:
    return str(int(number)).zfill(COMMUNE_CODE_WIDTH)


@dataclass(frozen=True, slots=True)
class Province:
    code: str
    name: str
    #: "tỉnh" or "thành phố trung ương" (centrally governed city).
    division_type: str


@dataclass(frozen=True, slots=True)
class Commune:
    code: str
    name: str
    province_code: str
    #: "xã" (commune), "phường" (ward) or "đặc khu" (special zone).
    division_type: str


@dataclass(frozen=True)
class ReferenceData:
    """Provinces and communes indexed the ways the pipeline looks them up."""

    provinces: Mapping[str, Province]
    communes: Mapping[str, Commune]
    #: Commune codes of each province, sorted.
    communes_by_province: Mapping[str, tuple[str, ...]]
    data_version: str

    def communes_expected(self, province: str) -> int:
        return len(self.communes_by_province.get(province, ()))


@cache
def load_reference() -> ReferenceData:
    """Load the reference data once per process (it is immutable)."""
    provinces = {
        province_code(p.code): Province(
            code=province_code(p.code), name=p.name, division_type=str(p.division_type.value)
        )
        for p in vp.Province.iter_all()
    }
    communes = {
        commune_code(w.code): Commune(
            code=commune_code(w.code),
            name=w.name,
            province_code=province_code(w.province_code),
            division_type=str(w.division_type.value),
        )
        for w in vp.Ward.iter_all()
    }
    by_province: dict[str, list[str]] = {code: [] for code in provinces}
    for commune in communes.values():
        by_province[commune.province_code].append(commune.code)
    return ReferenceData(
        provinces=dict(sorted(provinces.items())),
        communes=dict(sorted(communes.items())),
        communes_by_province={p: tuple(sorted(c)) for p, c in sorted(by_province.items())},
        data_version=str(vp.__data_version__),
    )
