"""Invitation templates (SMS and letter) and SMS segment counting.

SMS is billed and delivered per segment: 160 GSM 03.38 7-bit characters for a single-segment message,
153 per segment once it is split (the user-data header takes 7); any character outside the GSM alphabet
switches the whole message to UCS-2 at 70 / 67 characters per segment. Templates are written to fit one
GSM segment for typical names; `sms_segments` tells the practice what a rendered message will cost.
(Figures: 3GPP TS 23.038 alphabet; TS 23.040 concatenation header.)
"""

from __future__ import annotations

import string
from dataclasses import dataclass

from carecommons.core.errors import InvalidInput, NotFound

_GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = set("^{}\\[~]|€\f")  # each costs two septets (escape + character)

SMS_SINGLE_GSM, SMS_MULTI_GSM = 160, 153
SMS_SINGLE_UCS2, SMS_MULTI_UCS2 = 70, 67


def sms_segments(text: str) -> int:
    """How many SMS segments `text` needs (0 for empty text)."""
    if not text:
        return 0
    if all(ch in _GSM_BASIC or ch in _GSM_EXTENDED for ch in text):
        units = sum(2 if ch in _GSM_EXTENDED else 1 for ch in text)
        single, multi = SMS_SINGLE_GSM, SMS_MULTI_GSM
    else:
        units = sum(2 if ord(ch) > 0xFFFF else 1 for ch in text)  # UTF-16 code units
        single, multi = SMS_SINGLE_UCS2, SMS_MULTI_UCS2
    return 1 if units <= single else -(-units // multi)


CHANNELS = ("sms", "letter")


@dataclass(frozen=True)
class Template:
    """One message for one channel. Placeholders: $given_name, $family_name, $practice_name, $reason, $date."""

    id: str
    channel: str
    body: str
    description: str = ""

    def render(self, **values: str) -> str:
        """Fill the placeholders; a missing value is an error in the caller, never a blank in a patient's SMS."""
        try:
            return string.Template(self.body).substitute(values)
        except KeyError as err:
            raise InvalidInput(
                f"template {self.id}", f"no value for placeholder {err.args[0]}", "pass every placeholder"
            ) from None


_LETTER = """$practice_name

$date

Dear $given_name $family_name,

We are writing to invite you for $reason at the surgery.

Please telephone or visit the practice to book an appointment at a time that suits you. If you have had this
done elsewhere recently, please let us know so that we can update your record.

If you would rather not be contacted about this, or have any questions, please speak to our reception team.

Yours sincerely,

The practice team
$practice_name
"""

_REASONS: dict[str, tuple[str, str]] = {
    # id: (short reason for SMS, long reason for letters)
    "bp-review": ("a blood pressure check", "a blood pressure check as part of your regular review"),
    "bp-check": ("a blood pressure check", "a blood pressure check, following a recent raised reading"),
    "hba1c-review": ("a blood test (HbA1c)", "a blood test (HbA1c) as part of your regular review"),
    "flu-invite": ("your flu vaccination", "your free flu vaccination this season"),
    "review": ("a review", "a review of your health"),
}

TEMPLATES: dict[tuple[str, str], Template] = {}
for _tid, (_short, _long) in _REASONS.items():
    TEMPLATES[(_tid, "sms")] = Template(
        id=_tid,
        channel="sms",
        body=f"Dear $given_name, $practice_name invites you for {_short}. Please call the surgery or book online. "
        "Reply STOP to opt out.",
        description=f"SMS inviting the patient for {_short}",
    )
    TEMPLATES[(_tid, "letter")] = Template(
        id=_tid,
        channel="letter",
        body=_LETTER.replace("$reason", _long),
        description=f"Letter inviting the patient for {_long}",
    )


def template(template_id: str, channel: str) -> Template:
    """The template for an id and channel, or NotFound listing what exists."""
    if channel not in CHANNELS:
        raise InvalidInput("channel", f"{channel!r} is not a channel", f"use one of {', '.join(CHANNELS)}")
    try:
        return TEMPLATES[(template_id, channel)]
    except KeyError:
        ids = sorted({t for t, _ in TEMPLATES})
        raise NotFound("template", f"no {channel} template {template_id!r}", f"use one of {', '.join(ids)}") from None
