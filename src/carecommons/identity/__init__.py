"""identity layer (see DESIGN.md): NHS number, keyed pseudonyms, person index, probabilistic linkage.

Imports only `core` and `store`. Entry points other layers call:

- `identity.nhs.normalise_nhs_number`, `identity.nhs.format_nhs_number`
- `identity.keys.create_key`, `identity.keys.current_version`, `identity.keys.list_keys`
- `identity.pseudonym.pseudonymise`, `pseudonymise_arrow`, `register_pseudonym_udf`, `rotation_crosswalk`
- `identity.linkage.run_linkage`, `identity.linkage.latest_model`
- `identity.person_index.person_for_record`, `records_for_person`
- `identity.explain.explain_record`, `explain_pair`, `save_waterfall_chart`
- `identity.evaluation.evaluate_against_truth`
"""
