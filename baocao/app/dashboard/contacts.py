"""Contacts of commune clerks and province officers: name, role, e-mail, phone, preferred
language. Personal data: they live in the dashboard's own SQLite file (next to the officers'
logins), which no ClickHouse login, BI or otherwise, can read.

Loaded with ``baocao contacts import FILE.csv`` (every row checked; one bad row and nothing
changes, each problem named with its line) and edited by province officers for their own
communes in the dashboard.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from email_validator import EmailNotValidError, validate_email

from baocao.app.dashboard.officers import OfficerDatabase
from baocao.core.reference import ReferenceData

__all__ = [
    "CONTACT_COLUMNS",
    "Contact",
    "ContactError",
    "ContactStore",
    "check_contact",
    "parse_contacts",
]

CONTACT_COLUMNS = ("code", "role", "name", "email", "phone", "language")
ROLES = ("clerk", "officer")
LANGUAGES = ("vi", "en")
_PHONE = re.compile(r"^\+?[0-9][0-9 .-]{7,18}[0-9]$")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS contacts (
    code        TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('clerk', 'officer')),
    name        TEXT NOT NULL,
    email       TEXT NOT NULL DEFAULT '',
    phone       TEXT NOT NULL DEFAULT '',
    language    TEXT NOT NULL DEFAULT 'vi',
    province    TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    updated_by  TEXT NOT NULL,
    PRIMARY KEY (code, role, name)
);
CREATE INDEX IF NOT EXISTS contacts_by_province ON contacts (province);
"""


class ContactError(ValueError):
    """Rows that cannot be stored, each problem with its line (or field)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class Contact:
    #: A commune's code (a clerk) or a province's (an officer).
    code: str
    role: str
    name: str
    email: str
    phone: str
    language: str

    def as_json(self) -> dict[str, str]:
        return asdict(self)


def check_contact(
    row: dict[str, str], reference: ReferenceData
) -> tuple[Contact | None, list[str]]:
    """The contact of one row, or what is wrong with it (every problem, not the first)."""
    value = {k: (row.get(k) or "").strip() for k in CONTACT_COLUMNS}
    problems = []
    role = value["role"].lower()
    if role not in ROLES:
        problems.append(f"role {value['role']!r} is not one of {', '.join(ROLES)}")
    code = value["code"]
    if role == "clerk" and code.zfill(5) not in reference.communes:
        problems.append(f"{code!r} is not a commune code of the reference data")
    if role == "officer" and code.zfill(2) not in reference.provinces:
        problems.append(f"{code!r} is not a province code of the reference data")
    if not value["name"] or len(value["name"]) > 120:
        problems.append("the name is empty or longer than 120 characters")
    if value["email"]:
        try:
            # Syntax only (no DNS lookup); the normalized form is what the notifier sends to.
            value["email"] = validate_email(value["email"], check_deliverability=False).normalized
        except EmailNotValidError as exc:
            problems.append(f"{value['email']!r} is not an e-mail address: {exc}")
    if value["phone"] and not _PHONE.match(value["phone"]):
        problems.append(f"{value['phone']!r} is not a phone number")
    if not value["email"] and not value["phone"]:
        problems.append("give an e-mail address or a phone number")
    language = value["language"].lower() or "vi"
    if language not in LANGUAGES:
        problems.append(f"language {value['language']!r} is not vi or en")
    if problems:
        return None, problems
    code = code.zfill(5 if role == "clerk" else 2)
    return Contact(code, role, value["name"], value["email"], value["phone"], language), []


def parse_contacts(text: str, reference: ReferenceData) -> list[Contact]:
    """Every row of a contacts CSV (header: code,role,name,email,phone,language); raises
    :class:`ContactError` naming each bad row's line and problems."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    missing = [c for c in CONTACT_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ContactError([f"the header lacks {', '.join(missing)}"])
    contacts, problems = [], []
    for line, row in enumerate(reader, start=2):
        contact, wrong = check_contact(row, reference)
        problems += [f"line {line}: {p}" for p in wrong]
        if contact is not None:
            contacts.append(contact)
    if problems:
        raise ContactError(problems)
    if not contacts:
        raise ContactError(["the file has no contact rows"])
    return contacts


class ContactStore:
    def __init__(self, database: OfficerDatabase, reference: ReferenceData) -> None:
        self._db = database
        self._reference = reference
        database.connection().executescript(_SCHEMA)

    def _province_of(self, contact: Contact) -> str:
        if contact.role == "officer":
            return contact.code
        return self._reference.communes[contact.code].province_code

    def save(self, contacts: Iterable[Contact], *, by: str) -> int:
        """Insert or replace the contacts in one transaction; how many."""
        now = datetime.now(UTC).isoformat(timespec="seconds")
        rows = [
            (c.code, c.role, c.name, c.email, c.phone, c.language, self._province_of(c), now, by)
            for c in contacts
        ]
        with self._db.transaction() as tx:
            tx.executemany(
                "INSERT OR REPLACE INTO contacts (code, role, name, email, phone, language,"
                " province, updated_at, updated_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
        return len(rows)

    def of_province(self, province: str) -> list[Contact]:
        rows = self._db.connection().execute(
            "SELECT code, role, name, email, phone, language FROM contacts WHERE province = ?"
            " ORDER BY role, code, name",
            (province,),
        )
        return [Contact(*row) for row in rows]
