"""Writes the spreadsheets of signatories the import tests read (run it again after changing it):

    .venv/bin/python tests/data/make_files.py

The same four signatories in each format, as the ministry's files have them: Spanish column names
with accents and variants, UTF-8 or Latin-1, `;` or `,`; an XLSX with a title row, the RUC as a
number and real Excel dates. And one file with every kind of error.
"""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

from openpyxl import Workbook

HERE = Path(__file__).resolve().parent
WEIGHTS = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)


def ruc(first_ten: str) -> str:
    total = sum(int(d) * w for d, w in zip(first_ten, WEIGHTS, strict=True))
    return first_ten + str((11 - total % 11) % 10)


SPANISH = [
    "RUC",
    "Código de sucursal",
    "Razón social",
    "Nombre comercial",
    "Categoría",
    "Departamento",
    "Provincia",
    "Distrito",
    "Dirección",
    "Fecha de firma",
    "N° de signatario",
    "Correo electrónico",
]
ENGLISH = [
    "ruc",
    "branch_code",
    "legal_name",
    "trade_name",
    "category",
    "region",
    "province",
    "district",
    "address",
    "signature_date",
    "signatory_number",
    "contact_email",
]
ROWS = [
    # RUC, branch, legal name, trade name, category, region, province, district, address, date, number, e-mail
    [ruc("2045678901"), "0000", "Turismo Inka Ñan S.A.C.", "Hostal Inka Ñan", "Hospedaje", "Cusco", "Cusco", "San Blas", "Cuesta San Blas 512", date(2019, 3, 15), "", "reservas@inkanan.pe"],
    [ruc("2045678901"), "0001", "Turismo Inka Ñan S.A.C.", "Inka Ñan Valle", "Establecimiento de hospedaje", "CUSCO", "Urubamba", "Urubamba", "Av. Ferrocarril 220", date(2019, 3, 15), "", ""],
    [ruc("2056789012"), "0000", "Expediciones Tambopata E.I.R.L.", "Tambopata Expeditions", "Agencia de viajes y turismo", "Madre de Dios", "Tambopata", "Tambopata", "Jr. Arequipa 401", date(2020, 11, 2), "CC-2020-000077", "info@tambopata.pe"],
    [ruc("1041234567"), "0000", "Quispe Mamani, Rosa", "Restaurante Doña Rosa", "restaurant", "PE-LMA", "Lima", "Miraflores", "Calle Berlín 160", date(2018, 9, 30), "", ""],
]


def _csv(name: str, header: list[str], rows: list[list[object]], encoding: str, delimiter: str, date_format: str) -> None:
    with (HERE / name).open("w", encoding=encoding, newline="") as out:
        writer = csv.writer(out, delimiter=delimiter)
        writer.writerow(header)
        for row in rows:
            writer.writerow([v.strftime(date_format) if isinstance(v, date) else v for v in row])


def main() -> None:
    _csv("signatories_utf8_semicolon.csv", SPANISH, ROWS, "utf-8-sig", ";", "%d/%m/%Y")
    _csv("signatories_latin1_comma.csv", SPANISH, ROWS, "latin-1", ",", "%d/%m/%Y")
    _csv("signatories_english.csv", ENGLISH, ROWS, "utf-8", ",", "%Y-%m-%d")

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "Signatarios"
    sheet.append(["Relación de prestadores adheridos al Código de Conducta ESNNA"])
    sheet.append(["Razón Social", "Nombre Comercial", "R.U.C.", "Sucursal", "Tipo", "Región", "Provincia", "Distrito", "Domicilio", "Fecha de suscripción", "Nº signatario", "E-mail"])
    for r in ROWS:
        # As Excel keeps them: the RUC a number, the branch code without its leading zeros, real dates.
        sheet.append([r[2], r[3], int(r[0]), int(r[1]), r[4], r[5], r[6], r[7], r[8], r[9], r[10] or None, r[11] or None])
    workbook.save(HERE / "signatories.xlsx")

    bad = [
        ROWS[0],
        [ruc("2045678901")[:10] + str((int(ruc("2045678901")[10]) + 1) % 10), "0002", "Check Digit S.A.C.", "Dígito Malo", "Hospedaje", "Cusco", "Cusco", "Cusco", "Calle 1", "01/02/2020", "", ""],
        [ruc("2067890123"), "0000", "Región Rara S.A.C.", "Hotel Atlántida", "Hospedaje", "Atlántida", "X", "Y", "Calle 2", "01/02/2020", "", ""],
        [ruc("2067890124"[:10]), "0000", "Categoría Rara S.A.C.", "Casino Sol", "Casino", "Puno", "Puno", "Puno", "Calle 3", "01/02/2020", "", ""],
        [ruc("2078901234"), "0000", "Fecha Mala S.A.C.", "Hostal Mañana", "Hospedaje", "Ica", "Ica", "Ica", "Calle 4", "el año pasado", "", ""],
        [ruc("2045678901"), "0000", "Turismo Inka Ñan S.A.C.", "Hostal Inka Ñan (otra vez)", "Hospedaje", "Cusco", "Cusco", "San Blas", "Cuesta San Blas 512", "15/03/2019", "", ""],
        [ruc("2089012345"), "0000", "Correo Malo S.A.C.", "Hostal Sin Correo", "Hospedaje", "Tacna", "Tacna", "Tacna", "Calle 5", "2021-06-01", "", "no es un correo"],
    ]
    _csv("signatories_with_errors.csv", SPANISH, [list(r) for r in bad], "utf-8", ";", "%d/%m/%Y")


if __name__ == "__main__":
    main()
