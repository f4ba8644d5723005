"""Peru's scheme: RUC, branch codes, identity documents, regions, categories and the Code text."""

import unicodedata
from datetime import date

import pytest

from app.i18n import use_locale
from app.jurisdiction import InvalidValue, Scheme, current_scheme
from app.jurisdiction.peru import PERU, ruc_check_digit


def _error(call, *args) -> str:
    with use_locale("en"), pytest.raises(InvalidValue) as caught:
        call(*args)
    return str(caught.value)


def test_current_scheme_is_peru():
    scheme = current_scheme()
    assert isinstance(scheme, Scheme)
    assert scheme is PERU
    assert scheme.country == "PE"
    assert scheme.tax_id_name["es"] == "RUC"


@pytest.mark.parametrize("ruc", ["20131312955", "20100047218", "10000000006"])
def test_valid_ruc(ruc):
    assert PERU.normalize_tax_id(ruc) == ruc


@pytest.mark.parametrize(
    "typed", [" 20131312955 ", "20-131312955", "201 3131 2955", "2013131295-5"]
)
def test_ruc_spaces_and_dashes_are_dropped(typed):
    assert PERU.normalize_tax_id(typed) == "20131312955"


@pytest.mark.parametrize("ruc", ["", "2013131295", "201313129555", "2013131295A", "RUC20131312955"])
def test_ruc_must_be_11_digits(ruc):
    assert _error(PERU.normalize_tax_id, ruc) == "Enter the RUC: 11 digits"


def test_ruc_refuses_other_scripts_digits():
    arabic_indic = "".join(chr(0x0660 + int(d)) for d in "20131312955")
    assert _error(PERU.normalize_tax_id, arabic_indic) == "Enter the RUC: 11 digits"


@pytest.mark.parametrize("prefix", ["11", "18", "19", "21", "30", "00"])
def test_ruc_prefix(prefix):
    first_ten = prefix + "13131295"
    ruc = first_ten + str(ruc_check_digit(first_ten))  # right check digit, wrong prefix
    message = _error(PERU.normalize_tax_id, ruc)
    assert "10, 15, 16, 17, 20" in message


@pytest.mark.parametrize("prefix", ["10", "15", "16", "17", "20"])
def test_ruc_allowed_prefixes(prefix):
    first_ten = prefix + "47218000"
    ruc = first_ten + str(ruc_check_digit(first_ten))
    assert PERU.normalize_tax_id(ruc) == ruc


@pytest.mark.parametrize("valid", ["20131312955", "20100047218"])
def test_ruc_check_digit(valid):
    for digit in "0123456789":
        if digit == valid[-1]:
            continue
        message = _error(PERU.normalize_tax_id, valid[:10] + digit)
        assert message == ("This RUC's check digit is wrong: check the number on your SUNAT record")


def test_ruc_check_digit_wraps_10_and_11():
    assert ruc_check_digit("1000000000") == 6  # sum 5: r = 11 - 5
    assert ruc_check_digit("1000000012") == 0  # sum 12: r = 11 - 1 = 10 -> 0
    assert ruc_check_digit("1000000020") == 1  # sum 11: r = 11 - 0 = 11 -> 1
    weights = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
    for n in range(0, 10**10, 7_919_999):
        first_ten = f"{n:010d}"
        r = 11 - sum(int(d) * w for d, w in zip(first_ten, weights, strict=True)) % 11
        assert ruc_check_digit(first_ten) == {10: 0, 11: 1}.get(r, r)


def test_branch_code():
    assert PERU.normalize_branch_code("0000") == "0000"
    assert PERU.normalize_branch_code(" 0012 ") == "0012"
    assert PERU.fiscal_branch_code == "0000"
    for bad in ("", "12", "00001", "A001", "12-3"):
        assert _error(PERU.normalize_branch_code, bad).startswith("Enter the SUNAT branch code")


def test_dni():
    assert PERU.normalize_document("DNI", "07654321") == "07654321"
    assert PERU.normalize_document("DNI", " 0765 4321 ") == "07654321"
    for bad in ("", "1234567", "123456789", "1234567A"):
        assert _error(PERU.normalize_document, "DNI", bad) == "Enter the DNI: exactly 8 digits"


def test_carne_de_extranjeria():
    assert PERU.normalize_document("CE", "001234567") == "001234567"
    assert PERU.normalize_document("CE", "001 234 567") == "001234567"
    for bad in ("", "1234567", "12345678", "1234567890", "00123456X"):
        message = _error(PERU.normalize_document, "CE", bad)
        assert message.startswith("Enter the carné de extranjería number: 9 digits")


def test_passport():
    assert PERU.normalize_document("PASSPORT", "ab-123 456") == "AB123456"
    assert PERU.normalize_document("PASSPORT", "123456") == "123456"
    assert PERU.normalize_document("PASSPORT", "X12345678901") == "X12345678901"
    for bad in ("", "AB123", "X123456789012", "AB12345/", "ÑA12345"):
        message = _error(PERU.normalize_document, "PASSPORT", bad)
        assert message == "Enter the passport number: 6 to 12 letters and digits"


def test_unknown_document_type():
    assert _error(PERU.normalize_document, "LICENSE", "12345678")
    assert PERU.document_type("LICENSE") is None
    assert [d.code for d in PERU.document_types] == ["DNI", "CE", "PASSPORT"]


def test_messages_are_translated_at_call_time():
    # No Spanish catalogue yet: the point is that rendering happens per call, not at import.
    with use_locale("es"), pytest.raises(InvalidValue) as caught:
        PERU.normalize_document("DNI", "1")
    assert str(caught.value)


def test_26_regions_with_lima_metropolitana_apart():
    codes = [r.code for r in PERU.regions]
    assert len(codes) == len(set(codes)) == 26
    assert all(code.startswith("PE-") and len(code) == 6 for code in codes)
    assert PERU.region("PE-LMA").name == "Lima Metropolitana"
    assert PERU.region("PE-LIM").name == "Lima"
    assert PERU.region("PE-CUS").name == "Cusco"
    assert PERU.region("PE-MDD").name == "Madre de Dios"
    assert PERU.region("PE-CAL").name == "El Callao"
    assert PERU.region("PE-XXX") is None


def test_regions_ordered_by_name():
    def key(name: str) -> str:
        return unicodedata.normalize("NFD", name).encode("ascii", "ignore").decode().lower()

    names = [r.name for r in PERU.regions]
    assert names == sorted(names, key=key)


def test_category_codes():
    assert [c.code for c in PERU.categories] == [
        "lodging",
        "travel_agency",
        "adventure_operator",
        "tour_guide",
        "restaurant",
        "tourist_transport",
        "events_organizer",
        "other",
    ]
    assert PERU.category("lodging").name["es"] == "Establecimiento de hospedaje"
    assert PERU.category("travel_agency").name["es"] == "Agencia de viajes y turismo"
    assert all(set(c.name) == {"es", "en"} for c in PERU.categories)
    assert PERU.category("casino") is None


def test_code_text():
    code = PERU.current_code()
    assert code.version == "2018"
    assert code.published_on == date(2018, 7, 6)
    assert PERU.code_version("2018") is code
    assert [c.code for c in code.commitments] == [
        "policy",
        "training",
        "supplier_contracts",
        "traveller_information",
        "minors_entry_control",
        "reporting",
        "local_stakeholders",
        "annual_report",
    ]
    for text in (code.title, code.preamble, code.closing):
        assert text["es"] and text["en"]
    for law in ("29408", "30802", "28868"):
        assert law in code.preamble["es"]
    assert code.closing["es"].startswith("Declaro")
    assert "me comprometo" in code.closing["es"]
    for commitment in code.commitments:
        assert set(commitment.title) == set(commitment.text) == {"es", "en"}


def test_commitments_for_category():
    code = PERU.current_code()
    lodging = [c.code for c in code.commitments_for("lodging")]
    restaurant = [c.code for c in code.commitments_for("restaurant")]
    assert "minors_entry_control" in lodging
    assert "minors_entry_control" not in restaurant
    assert len(lodging) == 8
    assert len(restaurant) == 7
    assert code.commitment("minors_entry_control").applies_to("lodging")
    assert not code.commitment("minors_entry_control").applies_to("tour_guide")
    assert code.commitment("policy").applies_to("other")


def test_signatory_number():
    assert PERU.signatory_number(2026, 123) == "CC-2026-000123"
    assert PERU.signatory_number(2026, 1) == "CC-2026-000001"
    assert PERU.signatory_number(2030, 999_999) == "CC-2030-999999"
    for year, sequence in ((2026, 0), (2026, 1_000_000), (26, 1)):
        with pytest.raises(ValueError):
            PERU.signatory_number(year, sequence)
