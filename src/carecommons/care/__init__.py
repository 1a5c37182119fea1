"""care layer (see DESIGN.md): worklists, invitations and the outbox, care plans, tasks, the linked record, the portal.

Imports engine, governance, store (and core/reference below them); never risk or identity (the web layer passes
risk scores and linked record ids in). Every function touching a named patient checks access through
`governance.cohort` (direct care only) and writes `governance.audit` entries. Entry points:

- `care.worklists.worklist(con, session, requester, practice_id, filters) -> list[WorklistRow]`, `export_csv`,
  `rows_to_csv`, `items_for_patient`; `WorklistFilters`, `WorklistSource` (protocol for extra items)
- `care.rules.BUILTIN_RULES` (recalls, care gaps, case finding as codelist-driven data)
- `care.invitations.invite(con, session, requester, practice_id, patient_ids, template_id, channel)`
- `care.templates.template(id, channel)`, `sms_segments(text)`
- `care.outbox.deliver(session, sender)`, `Sender` protocol, `FileSender`, `LogSender`, `outbox_counts`
- `care.care_plans.create_care_plan / update_care_plan / get_care_plan / care_plans_for_patient`
  (optimistic concurrency: `care.errors.EditConflict`)
- `care.tasks.create_task / set_status / hand_over / comment / inbox / sent / tasks_for_patient / overdue`
- `care.record.patient_record(con, session, requester, patient_id, risk_scores=..., linked_records=...)`
- `care.portal.summary / choices / set_choice / access_log / patients_for`
"""
