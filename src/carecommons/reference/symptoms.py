"""The consultation reference: common presenting symptoms, what to consider and red flags, from NICE.

The vocabulary (categories, lay synonyms, SYMP ids, ICD-10 hints) is the shipped candidate list;
the clinical content is the project's own draft in symptom_guidance.json and stays marked as
needing clinical sign-off until a named clinician signs it off there.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from carecommons.core.errors import InvalidInput
from carecommons.core.paths import REFERENCE_DATA

GUIDANCE_FILE = Path(__file__).with_name("symptom_guidance.json")
VOCABULARY_FILE = REFERENCE_DATA / "symptoms" / "candidate_gp_symptoms.csv"


@dataclass(frozen=True)
class Reference:
    code: str  # NICE guideline id such as NG12, or CKS
    section: str  # recommendation/section or CKS topic, as cited
    title: str
    url: str


@dataclass(frozen=True)
class SymptomGuidance:
    slug: str
    symptom: str
    category: str
    lay_synonyms: tuple[str, ...]
    symp_id: str
    icd10_hint: str
    consider: tuple[str, ...]
    red_flags: tuple[str, ...]
    references: tuple[Reference, ...]

    def matches(self, query: str) -> bool:
        """Case-insensitive match on every word of the query against name, synonyms and content."""
        haystack = " ".join((self.symptom, self.category, *self.lay_synonyms, *self.consider, *self.red_flags)).lower()
        return all(word in haystack for word in query.lower().split())


@dataclass(frozen=True)
class Guidance:
    status: str
    signed_off_by: str | None
    about: str
    entries: tuple[SymptomGuidance, ...]

    @property
    def needs_sign_off(self) -> bool:
        return not self.signed_off_by

    @property
    def categories(self) -> list[str]:
        return list(dict.fromkeys(e.category for e in self.entries))

    def search(self, query: str = "", category: str | None = None) -> list[SymptomGuidance]:
        return [
            e
            for e in self.entries
            if (not category or e.category == category) and (not query.strip() or e.matches(query))
        ]

    def get(self, slug: str) -> SymptomGuidance | None:
        return next((e for e in self.entries if e.slug == slug), None)


def slugify(name: str) -> str:
    return "-".join("".join(ch if ch.isalnum() else " " for ch in name.lower()).split())


@lru_cache(maxsize=1)
def load_guidance(guidance_file: Path = GUIDANCE_FILE, vocabulary_file: Path = VOCABULARY_FILE) -> Guidance:
    """Join the project's guidance to the shipped vocabulary; refuse entries that cite unknown guidelines."""
    doc = json.loads(guidance_file.read_text(encoding="utf-8"))
    refs = doc["references"]
    with vocabulary_file.open(newline="", encoding="utf-8") as fh:
        vocab = {row["symptom"]: row for row in csv.DictReader(fh)}
    entries = []
    for i, item in enumerate(doc["entries"]):
        name = item["symptom"]
        row = vocab.get(name)
        if row is None:
            raise InvalidInput(
                f"{guidance_file.name} entry {i + 1}",
                f"symptom {name!r} is not in the vocabulary",
                "use its exact name",
            )
        cited = []
        for ref in item["refs"]:
            code, _, section = ref.partition(" ")
            if code not in refs:
                raise InvalidInput(
                    f"{guidance_file.name} entry {name!r}",
                    f"cites {code!r}, which is not in the references table",
                    "add the guideline to 'references' with its title and URL",
                )
            cited.append(Reference(code, section, refs[code]["title"], refs[code]["url"]))
        if not item["red_flags"] or not item["consider"]:
            raise InvalidInput(f"{guidance_file.name} entry {name!r}", "has no red flags or no conditions", "add them")
        entries.append(
            SymptomGuidance(
                slug=slugify(name),
                symptom=name,
                category=row["category"],
                lay_synonyms=tuple(s for s in row["lay_synonyms"].split("|") if s),
                symp_id=row["symp_id"],
                icd10_hint=row["icd10_hint"],
                consider=tuple(item["consider"]),
                red_flags=tuple(item["red_flags"]),
                references=tuple(cited),
            )
        )
    return Guidance(doc["status"], doc.get("signed_off_by"), doc["_about"], tuple(entries))
