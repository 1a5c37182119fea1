"""Practice worklist pages: who is due what, filters, CSV export and batch invitations."""

from __future__ import annotations

import datetime as dt
import threading
import time
from functools import cache
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from carecommons.care.indicator_gaps import IndicatorGaps
from carecommons.care.invitations import invite
from carecommons.care.rules import BUILTIN_RULES, ItemKind
from carecommons.care.templates import TEMPLATES
from carecommons.care.worklists import (
    PAGE_SIZE,
    WorklistFilters,
    WorklistItem,
    rows_to_csv,
    worklist,
    worklist_page,
)
from carecommons.core.errors import CarecommonsError, InvalidInput
from carecommons.governance.purposes import Requester
from carecommons.store.models.care import CarePlan, InvitationBatch
from carecommons.web.deps import require_roles, state
from carecommons.web.roles import NavItem
from carecommons.web.routes.care_common import PRACTICE_ROLE_VALUES, op_session, parse_int, store
from carecommons.web.templating import render

router = APIRouter(include_in_schema=False)
NAV = [NavItem("Worklist", "/care/worklist", PRACTICE_ROLE_VALUES)]
practice_staff = require_roles(*PRACTICE_ROLE_VALUES)
#: Patients per page here (tests set it small to page through a demo practice).
WORKLIST_PAGE_SIZE = PAGE_SIZE

#: Case-finding searches from the risk layer that the care rules do not already cover (care has its own
#: undiagnosed hypertension and diabetes rules), with the label a practice sees.
RISK_FINDINGS: dict[str, str] = {
    "af_not_anticoagulated": "Atrial fibrillation, CHA2DS2-VASc 2 or more, not anticoagulated",
    "ckd_uncoded": "Possible uncoded chronic kidney disease (two low eGFRs)",
    "high_qrisk_no_statin": "QRISK3 10% or more without a statin",
    "frailty_no_care_plan": "Moderate or severe frailty (eFI) without a care plan",
}
RISK_CACHE_SECONDS = 300.0
#: Above this many patients in the store the store-wide searches take minutes (benchmarks/README.md, Risk), too
#: long for a page; they are left out with a note until the engine serves them from a results table.
RISK_LIVE_MAX_PATIENTS = 250_000
_risk_cache: dict[tuple, tuple[float, list[tuple[int, str, str]]]] = {}
_risk_lock = threading.Lock()


class RiskCaseFinding:
    """A `care.worklists.WorklistSource` over `risk.case_finding.find` (web may import risk; care may not).

    The searches run over the whole store, so their result is cached per store file, index date and set of
    patients with care plans for a few minutes; the worklist keeps only its own practice's allowed patients.
    """

    def __init__(self, store_key: tuple, care_plan_patient_ids: frozenset[int]) -> None:
        self.store_key = store_key
        self.care_plan_patient_ids = care_plan_patient_ids
        self.error: str = ""

    def _findings(self, con, index_date: dt.date) -> list[tuple[int, str, str]]:
        key = (*self.store_key, index_date, self.care_plan_patient_ids)
        with _risk_lock:
            hit = _risk_cache.get(key)
            if hit is not None and time.monotonic() - hit[0] < RISK_CACHE_SECONDS:
                return hit[1]
            from carecommons.risk.case_finding import find

            df = find(con, index_date, care_plan_patient_ids=self.care_plan_patient_ids)
            df = df[df["finding"].isin(list(RISK_FINDINGS))]
            value = [
                (int(p), str(f), str(e))
                for p, f, e in zip(df["patient_id"], df["finding"], df["evidence"], strict=True)
            ]
            _risk_cache.clear()  # one entry is enough: the newest store, today
            _risk_cache[key] = (time.monotonic(), value)
            return value

    def items(self, con, population_table: str, practice_id: str, index_date: dt.date):
        patients = con.execute("SELECT count(*) FROM patients").fetchall()[0][0]
        if patients > RISK_LIVE_MAX_PATIENTS:
            self.error = (
                "Risk-based case finding (atrial fibrillation, CKD, QRISK3, frailty) is not shown: at this store's "
                "size it runs as a batch job, not on page load."
            )
            return []
        try:
            findings = self._findings(con, index_date)
        except (CarecommonsError, KeyError, ValueError) as err:
            self.error = f"Risk-based case finding is unavailable ({err.__class__.__name__})."
            return []
        pop = {int(r[0]) for r in con.execute(f"SELECT patient_id FROM {population_table}").fetchall()}
        return [
            WorklistItem(
                pid, f"risk:{finding}", ItemKind.CASE_FINDING, RISK_FINDINGS[finding], "review", detail=evidence
            )
            for pid, finding, evidence in findings
            if pid in pop
        ]


def _risk_source(request: Request, session) -> RiskCaseFinding:
    store_path = state(request).settings.store_path
    mtime = store_path.stat().st_mtime if store_path.exists() else 0.0
    with_plans = frozenset(
        int(p) for p in session.execute(select(CarePlan.patient_id).where(CarePlan.status == "active")).scalars()
    )
    return RiskCaseFinding((str(store_path), mtime), with_plans)


@cache
def _indicator_choices() -> tuple[tuple[str, str], ...]:
    from carecommons.definitions.library import load_library

    return tuple(
        (f"indicator:{d.id}", f"{d.title} (not met)")
        for d in load_library().definitions.values()
        if str(d.kind) == "indicator"
    )


def rule_choices() -> list[tuple[str, str]]:
    """Every reason a patient can be listed for: care rules, indicator gaps (engine), risk case finding."""
    return (
        [(r.id, r.label) for r in BUILTIN_RULES]
        + list(_indicator_choices())
        + [(f"risk:{k}", v) for k, v in RISK_FINDINGS.items()]
    )


KIND_LABELS = {ItemKind.RECALL: "Recall", ItemKind.CARE_GAP: "Care gap", ItemKind.CASE_FINDING: "Case finding"}
KIND_TAGS = {
    ItemKind.RECALL: "nhsuk-tag--blue",
    ItemKind.CARE_GAP: "nhsuk-tag--orange",
    ItemKind.CASE_FINDING: "nhsuk-tag--purple",
}
FILTER_KEYS = ("kind", "rule", "age_min", "age_max", "sex", "not_invited")


def filters_from(params) -> tuple[WorklistFilters, dict]:
    """Filters from query or form fields, plus the raw values to redisplay; InvalidInput names the field."""
    kinds = [k for k in params.getlist("kind") if k]
    rules = [r for r in params.getlist("rule") if r]
    try:
        kind_set = frozenset(ItemKind(k) for k in kinds)
    except ValueError:
        raise InvalidInput("kind", "is not a known kind", "choose recall, care gap or case finding") from None
    known = {rid for rid, _label in rule_choices()}
    if any(r not in known for r in rules):
        raise InvalidInput("rule", "is not a known reason", "choose reasons from the list")
    sex = (params.get("sex") or "").strip() or None
    f = WorklistFilters(
        kinds=kind_set,
        rule_ids=frozenset(rules),
        age_min=parse_int(params.get("age_min", ""), "age_min"),
        age_max=parse_int(params.get("age_max", ""), "age_max"),
        sex=sex,
        not_invited_within_days=parse_int(params.get("not_invited", ""), "not_invited"),
    )
    raw = {"kind": kinds, "rule": rules, **{k: params.get(k, "") for k in ("age_min", "age_max", "sex", "not_invited")}}
    return f, raw


def _query(raw: dict) -> str:
    pairs = [(k, v) for k in FILTER_KEYS for v in (raw.get(k) if isinstance(raw.get(k), list) else [raw.get(k)]) if v]
    return urlencode(pairs)


def _page_number(params) -> int:
    raw = (params.get("page") or "").strip()
    if not raw:
        return 1
    if not raw.isdigit() or int(raw) < 1:
        raise InvalidInput("page", f"{raw!r} is not a page number", "use a whole number from 1")
    return int(raw)


@router.get("/care/worklist")
def worklist_page_view(request: Request, requester: Requester = Depends(practice_staff)) -> Response:
    errors: dict[str, str] = {}
    try:
        filters, raw = filters_from(request.query_params)
    except InvalidInput as err:
        filters, raw = WorklistFilters(), {}
        errors[err.input_name] = f"{err.problem}: {err.fix}"
    try:
        page = _page_number(request.query_params)
    except InvalidInput as err:
        page = 1
        errors[err.input_name] = f"{err.problem}: {err.fix}"
    batch = None
    with store(request) as con, op_session(request) as session:
        risk = _risk_source(request, session)
        indicators = IndicatorGaps(session, requester)
        org = requester.org_id or ""

        def listed(number: int):
            return worklist_page(
                con,
                session,
                requester,
                org,
                filters,
                page=number,
                page_size=WORKLIST_PAGE_SIZE,
                sources=[indicators, risk],
            )

        try:
            listing = listed(page)
        except InvalidInput as err:
            if err.input_name != "page":
                raise
            # A list can shrink between views (a filter on invitations, a new extract): say so, show page 1.
            errors["page"] = f"{err.problem}: {err.fix}"
            listing = listed(1)
        batch_id = request.query_params.get("batch", "")
        if batch_id.isdigit():
            batch = session.get(InvitationBatch, int(batch_id))
            if batch is not None and batch.practice_id != requester.org_id:
                batch = None
    return render(
        request,
        "care/worklist.html",
        {
            "rows": listing.rows,
            "listing": listing,
            "raw": raw,
            "errors": errors,
            "rules": rule_choices(),
            "risk_note": " ".join(n for n in (indicators.note, risk.error) if n),
            "kinds": KIND_LABELS,
            "kind_tags": KIND_TAGS,
            "templates": sorted({t for t, _c in TEMPLATES}),
            "query": _query(raw),
            "batch": batch,
            "today": dt.date.today(),
        },
        status_code=400 if errors else 200,
    )


@router.get("/care/worklist.csv")
def worklist_csv(request: Request, requester: Requester = Depends(practice_staff)) -> Response:
    filters, _raw = filters_from(request.query_params)
    with store(request) as con, op_session(request) as session:
        rows = worklist(
            con,
            session,
            requester,
            requester.org_id or "",
            filters,
            sources=[IndicatorGaps(session, requester), _risk_source(request, session)],
            audit_action="worklist.export",
        )
    name = f"worklist-{requester.org_id}-{dt.date.today().isoformat()}.csv"
    return Response(
        rows_to_csv(rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


@router.post("/care/worklist/invite")
async def invite_selected(request: Request, requester: Requester = Depends(practice_staff)) -> Response:
    form = await request.form()
    _filters, raw = filters_from(form)
    ids = [parse_int(str(v), "patient") for v in form.getlist("patient_id")]
    template_id = str(form.get("template", ""))
    channel = str(form.get("channel", ""))
    with store(request) as con, op_session(request) as session:
        try:
            result = invite(
                con, session, requester, requester.org_id or "", [i for i in ids if i], template_id, channel
            )
        except CarecommonsError as err:
            session.rollback()
            if isinstance(err, InvalidInput):
                q = _query(raw)
                return RedirectResponse(f"/care/worklist?{q}&invite_error={err.input_name}", status_code=303)
            raise
    q = _query(raw)
    page = str(form.get("page", ""))
    if page.isdigit() and page != "1":
        q = f"{q + '&' if q else ''}page={page}"
    return RedirectResponse(f"/care/worklist?{q + '&' if q else ''}batch={result.batch_id}", status_code=303)
