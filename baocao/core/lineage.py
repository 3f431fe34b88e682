"""The pre-2025 communes and the crosswalk from them onto the 2025 map.

The data comes from the ``vietnamadminunits`` package (its 63-province ``admin_units_legacy``
table and its 2025 conversion), never from a hand-made list; the 2025 side is always a commune
of :mod:`baocao.core.reference` (``vietnam-provinces``). Why, and how the two packages disagree,
is in docs/legacy-units.md. In short:

- ``vietnamadminunits`` 1.0.4 writes 131 of the 3,321 new communes under codes that
  ``vietnam-provinces`` (the official codes) gives to other communes or to none. A target is
  therefore matched by its province code and its name (accents and spacing ignored); the
  package's code is used only when that name agrees with it.
- A split old commune's shares are proportional to the areas of its new communes: the package
  gives each target's whole area, not the area of the piece it received (method
  :data:`SPLIT_BY_AREA`). Where a target has no area, the shares are equal
  (:data:`SPLIT_EQUALLY`). Shares are rounded to :data:`SHARE_DECIMALS` and the primary
  target takes the remainder, so each old commune's shares add up to exactly 1.
- Five island districts had no communes (Bạch Long Vĩ, Cồn Cỏ, Hoàng Sa, Lý Sơn, Côn Đảo):
  the district itself was the reporting unit. It is a legacy unit under its 3-digit district
  code and maps whole onto its 2025 special zone.
"""

from __future__ import annotations

import json
import re
import sqlite3
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import metadata, resources

from baocao.core.catalogue import Catalogue
from baocao.core.models import LOCAL_TIMEZONE
from baocao.core.reference import ReferenceData, load_reference

__all__ = [
    "APPORTIONED_DECIMALS",
    "LEGACY_PACKAGE",
    "LEGACY_PREFIX",
    "MERGER_AT",
    "SHARE_DECIMALS",
    "SPLIT_BY_AREA",
    "SPLIT_EQUALLY",
    "WHOLE",
    "Crosswalk",
    "CrosswalkError",
    "LegacyCommune",
    "Lineage",
    "Part",
    "apportion",
    "build_crosswalk",
    "legacy_code_of",
    "legacy_parts",
    "load_crosswalk",
]

LEGACY_PACKAGE = "vietnamadminunits"
#: Methods of a lineage row.
WHOLE = "whole"
SPLIT_BY_AREA = "split_by_area"
SPLIT_EQUALLY = "split_equally"
#: Shares are kept to six decimals (a millionth of a commune).
SHARE_DECIMALS = 6
#: value × share is rounded to this many decimals, here and in every recomputation.
APPORTIONED_DECIMALS = 2
#: A report under a pre-2025 code writes it as ``L`` + the old code (``L00007``, ``L498``):
#: old and new codes share one number space (new Phường Ba Đình is ``00004``, as was old
#: Phường Trúc Bạch), so the old code must say that it is one.
LEGACY_PREFIX = "L"
#: The 2025 map took effect at local midnight on 1 July 2025: an old code is accepted only
#: for a period that ends by then.
MERGER_AT = datetime(2025, 7, 1, tzinfo=LOCAL_TIMEZONE)
_DISTRICT_CODE_WIDTH = 3
_COMMUNE_CODE_WIDTH = 5


class CrosswalkError(ValueError):
    """The package's data does not make a valid crosswalk (a test guards against this)."""


@dataclass(frozen=True, slots=True)
class LegacyCommune:
    """A commune-level unit of the 63-province map (before 1 July 2025)."""

    #: 5-digit commune code, or the 3-digit code of a district that had no communes.
    code: str
    name: str
    #: "xã", "phường", "thị trấn", or "huyện" for a district without communes.
    division_type: str
    district_code: str
    district_name: str
    #: The old (63-province) province code and name.
    province_code: str
    province_name: str


@dataclass(frozen=True, slots=True)
class Lineage:
    """The part of an old commune that went into one new commune."""

    old_code: str
    new_code: str
    #: Fraction of the old commune counted toward the new one; an old commune's shares sum to 1.
    share: float
    method: str
    #: The new commune the package names as the old one's main successor (one per old code):
    #: the only one a split unit's max and min indicators count toward.
    primary: bool


@dataclass(frozen=True)
class Crosswalk:
    legacy_communes: Mapping[str, LegacyCommune]
    #: Lineage rows of each old code, primary first.
    lineage: Mapping[str, tuple[Lineage, ...]]
    #: Lineage rows into each new commune, by old code.
    predecessors: Mapping[str, tuple[Lineage, ...]]
    package_version: str

    def rows(self) -> list[Lineage]:
        return [row for code in sorted(self.lineage) for row in self.lineage[code]]

    def is_split(self, old_code: str) -> bool:
        return len(self.lineage.get(old_code, ())) > 1


def legacy_code_of(commune_code: str) -> str | None:
    """The old code a report's ``commune_code`` names (``"L00007"`` -> ``"00007"``), or
    ``None`` for a 2025 code."""
    if commune_code.startswith(LEGACY_PREFIX):
        return commune_code[len(LEGACY_PREFIX) :]
    return None


@dataclass(frozen=True, slots=True)
class Part:
    """What an old-code report counts toward one new commune."""

    new_code: str
    indicators: Mapping[str, float]
    #: From a split old commune: its values are shares (sums) or whole values counted in one
    #: successor only (max and min), so the new commune's figure is an estimate.
    approximate: bool


def legacy_parts(
    indicators: Mapping[str, float], rows: Iterable[Lineage], catalogue: Catalogue
) -> list[Part]:
    """Split an old commune's figures over its new communes (``rows``, its lineage).

    Sum indicators (ratio numerators and denominators included, so ratios stay ratios of
    summed parts) count by share, rounded by :func:`apportion`. A max or a min cannot be split:
    the whole value counts toward the primary successor only, and not toward the others.
    """
    lineage = list(rows)
    approximate = len(lineage) > 1
    parts: list[Part] = []
    for row in lineage:
        values: dict[str, float] = {}
        for code, value in indicators.items():
            aggregation = catalogue.indicators[code].aggregation
            if aggregation == "sum":
                values[code] = apportion(value, row.share)
            elif row.primary:
                values[code] = value
        parts.append(Part(row.new_code, values, approximate))
    return parts


def apportion(value: float, share: float) -> float:
    """A split commune's value counted toward one of its new communes.

    The one rounding rule of the pipeline for value × share; the recomputation in the tests
    calls it too. A whole commune (share 1) keeps its value exactly.
    """
    if share == 1:
        return value
    return round(value * share, APPORTIONED_DECIMALS)


@cache
def load_crosswalk() -> Crosswalk:
    """Build the crosswalk once per process (it is immutable)."""
    return build_crosswalk(load_reference())


def build_crosswalk(reference: ReferenceData) -> Crosswalk:
    data = resources.files(LEGACY_PACKAGE) / "data"
    conversion = json.loads((data / "converter_2025.json").read_text(encoding="utf-8"))
    with resources.as_file(data / "dataset.db") as path:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        connection.row_factory = sqlite3.Row
        try:
            legacy_rows = connection.execute("SELECT * FROM admin_units_legacy").fetchall()
            new_rows = connection.execute("SELECT * FROM admin_units").fetchall()
        finally:
            connection.close()
    legacy_by_name = {_converter_name(row): _legacy_commune(row) for row in legacy_rows}
    new_code_by_key = _new_codes(new_rows, reference)
    targets: dict[str, list[tuple[str, float | None, bool]]] = {}
    for province_key, wards in conversion["DICT_PROVINCE_WARD_NO_DIVIDED"].items():
        for ward_key, old_keys in wards.items():
            for old_key in old_keys:
                new_code = new_code_by_key[(province_key, ward_key)]
                targets.setdefault(old_key.rstrip("_"), []).append((new_code, None, True))
    for province_key, olds in conversion["DICT_PROVINCE_WARD_DIVIDED"].items():
        for old_key, parts in olds.items():
            targets[old_key.rstrip("_")] = [
                (
                    new_code_by_key[(province_key, part["newWardKey"])],
                    part["newWardAreaKm2"] or None,
                    bool(part["isDefaultNewWard"]),
                )
                for part in parts
            ]
    lineage: dict[str, tuple[Lineage, ...]] = {}
    for key, commune in legacy_by_name.items():
        if key not in targets:
            raise CrosswalkError(f"old unit {commune.code} ({commune.name}) has no new commune")
        lineage[commune.code] = _shares(commune.code, targets[key])
    into: dict[str, list[Lineage]] = {}
    for rows in lineage.values():
        for row in rows:
            into.setdefault(row.new_code, []).append(row)
    return Crosswalk(
        legacy_communes=dict(sorted((c.code, c) for c in legacy_by_name.values())),
        lineage=dict(sorted(lineage.items())),
        predecessors={
            code: tuple(sorted(into[code], key=lambda r: r.old_code)) for code in sorted(into)
        },
        package_version=metadata.version(LEGACY_PACKAGE),
    )


def _converter_name(row: sqlite3.Row) -> str:
    """The package's own key of an old unit (``province_district_ward``), as the conversion
    names it; a district without communes has no ward part."""
    parts = [row["provinceKey"], row["districtKey"], row["wardKey"] or ""]
    return "_".join(parts).rstrip("_")


def _legacy_commune(row: sqlite3.Row) -> LegacyCommune:
    district_code = str(row["districtCode"]).zfill(_DISTRICT_CODE_WIDTH)
    if row["wardCode"]:
        code = str(row["wardCode"]).zfill(_COMMUNE_CODE_WIDTH)
        name, kind = row["ward"], row["wardType"]
    else:
        code, name, kind = district_code, row["district"], row["districtType"]
    return LegacyCommune(
        code=code,
        name=name,
        division_type=str(kind).lower(),
        district_code=district_code,
        district_name=row["district"],
        province_code=str(row["provinceCode"]).zfill(2),
        province_name=row["province"],
    )


def _plain_name(name: str) -> str:
    """A name without accents, case, spacing or punctuation ("Phường  An Nhơn" = "Phường An
    Nhơn", "Chân Mây – Lăng Cô" = "Chân Mây - Lăng Cô")."""
    plain = unicodedata.normalize("NFD", name.replace("Đ", "D").replace("đ", "d"))
    plain = "".join(ch for ch in plain if not unicodedata.combining(ch))
    return re.sub(r"[^a-z0-9]", "", plain.lower())


def _new_codes(rows: Iterable[sqlite3.Row], reference: ReferenceData) -> dict[tuple[str, str], str]:
    """The ``vietnam-provinces`` code of each new commune the package names."""
    by_name: dict[tuple[str, str], list[str]] = {}
    for commune in reference.communes.values():
        by_name.setdefault((commune.province_code, _plain_name(commune.name)), []).append(
            commune.code
        )
    codes: dict[tuple[str, str], str] = {}
    for row in rows:
        province, name = str(row["provinceCode"]).zfill(2), _plain_name(row["ward"])
        own = reference.communes.get(str(row["wardCode"]).zfill(_COMMUNE_CODE_WIDTH))
        if own is not None and own.province_code == province and _plain_name(own.name) == name:
            codes[(row["provinceKey"], row["wardKey"])] = own.code
            continue
        candidates = by_name.get((province, name), [])
        if len(candidates) != 1:
            raise CrosswalkError(
                f"new commune {row['ward']!r} of province {province} matches"
                f" {len(candidates)} communes of vietnam-provinces"
            )
        codes[(row["provinceKey"], row["wardKey"])] = candidates[0]
    return codes


def _shares(old_code: str, targets: list[tuple[str, float | None, bool]]) -> tuple[Lineage, ...]:
    if len({code for code, _, _ in targets}) != len(targets):
        raise CrosswalkError(f"old unit {old_code} names a new commune twice")
    ordered = sorted(targets, key=lambda t: (not t[2], t[0]))
    if len(ordered) == 1:
        return (Lineage(old_code, ordered[0][0], 1.0, WHOLE, True),)
    areas = [area for _, area, _ in ordered]
    if all(area is not None and area > 0 for area in areas):
        method, weights = SPLIT_BY_AREA, [float(area or 0) for area in areas]
    else:
        method, weights = SPLIT_EQUALLY, [1.0] * len(ordered)
    total = sum(weights)
    rest = [round(weight / total, SHARE_DECIMALS) for weight in weights[1:]]
    shares = [round(1 - sum(rest), SHARE_DECIMALS), *rest]
    return tuple(
        Lineage(old_code, code, share, method, index == 0)
        for index, ((code, _, _), share) in enumerate(zip(ordered, shares, strict=True))
    )
