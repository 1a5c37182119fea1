"""stats layer (see DESIGN.md): pure numpy/scipy statistics for planning outputs.

standardise.dsr (ESP 2013, Dobson CIs), proportions.wilson, funnel.limits/classify (95%/99.8%, overdispersion),
spc.analyse (XmR with Making Data Count rules), inequality.sii / rate_ratios. Imports only core.
"""
