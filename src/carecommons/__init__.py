"""Carecommons: London's general-practice records turned into proactive, patient-centred care."""

__version__ = "0.1.0"
