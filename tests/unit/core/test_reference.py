from collections import Counter

from baocao.core.reference import load_reference


def test_reference_has_the_2025_map() -> None:
    reference = load_reference()
    assert len(reference.provinces) == 34
    assert len(reference.communes) == 3321
    kinds = Counter(c.division_type for c in reference.communes.values())
    assert kinds == {"xã": 2621, "phường": 687, "đặc khu": 13}


def test_codes_are_zero_padded_strings() -> None:
    reference = load_reference()
    assert reference.provinces["01"].name == "Thành phố Hà Nội"
    assert reference.communes["00070"].province_code == "01"
    assert all(len(code) == 2 for code in reference.provinces)
    assert all(len(code) == 5 for code in reference.communes)


def test_every_commune_belongs_to_one_known_province() -> None:
    reference = load_reference()
    listed = [code for codes in reference.communes_by_province.values() for code in codes]
    assert sorted(listed) == sorted(reference.communes)
    assert sum(reference.communes_expected(p) for p in reference.provinces) == 3321
    assert reference.communes_expected("99") == 0
