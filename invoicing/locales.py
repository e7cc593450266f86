"""Invoice document locales: labels, numbers, money and dates in en, fr, de, es, it, nb and sv.

Pure module (no Django): hand-rolled after CLDR's conventions, kept small on purpose.

* Numbers: en ``1,234.56``; fr ``1 234,56`` (narrow no-break space U+202F); de/es/it ``1.234,56``;
  nb/sv ``1 234,56`` (no-break space U+00A0). The minus sign is ASCII ``-``.
* Money: exactly the currency's exponent in decimals (JPY 0, EUR 2, KWD 3). English puts the symbol first with no
  space (``€1,234.56``, ``KWD 1,234.567``); every other locale puts it last after a no-break space
  (``1 234,56 €``). Only a handful of currencies have a symbol here; all others print their ISO code.
* Dates: ``November 24, 2026``, ``24 novembre 2026`` (``1er`` for the first), ``24. November 2026``,
  ``24 de noviembre de 2026``, ``24 novembre 2026``, ``24. november 2026``, ``24 november 2026``.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

DEFAULT_LOCALE = "en"
NBSP = "\u00a0"
NNBSP = "\u202f"

# Currencies printed with a symbol; every other currency prints its ISO code.
CURRENCY_SYMBOLS: dict[str, str] = {
    "EUR": "€",
    "USD": "$",
    "GBP": "£",
    "JPY": "¥",
    "NOK": "kr",
    "SEK": "kr",
    "DKK": "kr",
}

_SEPARATORS: dict[str, tuple[str, str]] = {  # (grouping, decimal)
    "en": (",", "."),
    "fr": (NNBSP, ","),
    "de": (".", ","),
    "es": (".", ","),
    "it": (".", ","),
    "nb": (NBSP, ","),
    "sv": (NBSP, ","),
}

_MONTHS: dict[str, tuple[str, ...]] = {
    "en": ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"),
    "fr": ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
           "novembre", "décembre"),
    "de": ("Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober",
           "November", "Dezember"),
    "es": ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre",
           "noviembre", "diciembre"),
    "it": ("gennaio", "febbraio", "marzo", "aprile", "maggio", "giugno", "luglio", "agosto", "settembre",
           "ottobre", "novembre", "dicembre"),
    "nb": ("januar", "februar", "mars", "april", "mai", "juni", "juli", "august", "september", "oktober",
           "november", "desember"),
    "sv": ("januari", "februari", "mars", "april", "maj", "juni", "juli", "augusti", "september", "oktober",
           "november", "december"),
}  # fmt: skip

_DATE_PATTERNS: dict[str, str] = {
    "en": "{month} {day}, {year}",
    "fr": "{day} {month} {year}",
    "de": "{day}. {month} {year}",
    "es": "{day} de {month} de {year}",
    "it": "{day} {month} {year}",
    "nb": "{day}. {month} {year}",
    "sv": "{day} {month} {year}",
}

# Percent sign: glued in English and Italian, after a (narrow) no-break space elsewhere.
_PERCENT: dict[str, str] = {
    "en": "{}%",
    "fr": "{}" + NNBSP + "%",
    "de": "{}" + NBSP + "%",
    "es": "{}" + NBSP + "%",
    "it": "{}%",
    "nb": "{}" + NBSP + "%",
    "sv": "{}" + NBSP + "%",
}

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "invoice": "Invoice",
        "invoice_number": "Invoice number",
        "issuing_date": "Issue date",
        "payment_due_date": "Payment due date",
        "seller": "From",
        "buyer": "Bill to",
        "tax_id": "Tax ID",
        "legal_number": "Registration no.",
        "description": "Description",
        "units": "Units",
        "unit_price": "Unit price",
        "amount": "Amount",
        "billing_period": "Billing period",
        "usage_period": "Usage period",
        "other_items": "Other items",
        "coupon": "Coupon",
        "coupons": "Coupons",
        "sub_total_excluding_taxes": "Subtotal (excl. tax)",
        "tax": "Tax",
        "tax_on": "{name} ({rate}) on {base}",
        "sub_total_including_taxes": "Subtotal (incl. tax)",
        "progressive_billing_credit": "Usage already billed",
        "credit_notes": "Credit notes",
        "prepaid_credits": "Prepaid credits",
        "total": "Total due",
        "payment_terms_days": "Payment terms: due in {days} days",
        "payment_terms_day": "Payment terms: due in 1 day",
        "payment_terms_receipt": "Payment terms: due upon receipt",
        "page": "Page {page} of {pages}",
        "draft": "Draft",
        "voided": "Voided",
        "minimum_commitment": "Minimum commitment",
        "true_up": "minimum spend adjustment",
    },
    "fr": {
        "invoice": "Facture",
        "invoice_number": "Numéro de facture",
        "issuing_date": "Date d'émission",
        "payment_due_date": "Date d'échéance",
        "seller": "Émetteur",
        "buyer": "Facturé à",
        "tax_id": "N° TVA",
        "legal_number": "N° d'immatriculation",
        "description": "Description",
        "units": "Unités",
        "unit_price": "Prix unitaire",
        "amount": "Montant",
        "billing_period": "Période de facturation",
        "usage_period": "Période de consommation",
        "other_items": "Autres éléments",
        "coupon": "Coupon",
        "coupons": "Coupons",
        "sub_total_excluding_taxes": "Sous-total HT",
        "tax": "TVA",
        "tax_on": "{name} ({rate}) sur {base}",
        "sub_total_including_taxes": "Sous-total TTC",
        "progressive_billing_credit": "Consommation déjà facturée",
        "credit_notes": "Avoirs",
        "prepaid_credits": "Crédits prépayés",
        "total": "Total à payer",
        "payment_terms_days": "Conditions de paiement\u202f: à régler sous {days} jours",
        "payment_terms_day": "Conditions de paiement\u202f: à régler sous 1 jour",
        "payment_terms_receipt": "Conditions de paiement\u202f: à réception",
        "page": "Page {page} sur {pages}",
        "draft": "Brouillon",
        "voided": "Annulée",
        "minimum_commitment": "Engagement minimum",
        "true_up": "ajustement au minimum de facturation",
    },
    "de": {
        "invoice": "Rechnung",
        "invoice_number": "Rechnungsnummer",
        "issuing_date": "Rechnungsdatum",
        "payment_due_date": "Fälligkeitsdatum",
        "seller": "Rechnungssteller",
        "buyer": "Rechnungsempfänger",
        "tax_id": "USt-IdNr.",
        "legal_number": "Registernummer",
        "description": "Beschreibung",
        "units": "Menge",
        "unit_price": "Einzelpreis",
        "amount": "Betrag",
        "billing_period": "Abrechnungszeitraum",
        "usage_period": "Nutzungszeitraum",
        "other_items": "Weitere Posten",
        "coupon": "Gutschein",
        "coupons": "Gutscheine",
        "sub_total_excluding_taxes": "Zwischensumme (netto)",
        "tax": "USt.",
        "tax_on": "{name} ({rate}) auf {base}",
        "sub_total_including_taxes": "Zwischensumme (brutto)",
        "progressive_billing_credit": "Bereits abgerechnete Nutzung",
        "credit_notes": "Gutschriften",
        "prepaid_credits": "Prepaid-Guthaben",
        "total": "Gesamtbetrag",
        "payment_terms_days": "Zahlungsbedingungen: zahlbar innerhalb von {days} Tagen",
        "payment_terms_day": "Zahlungsbedingungen: zahlbar innerhalb von 1 Tag",
        "payment_terms_receipt": "Zahlungsbedingungen: sofort fällig",
        "page": "Seite {page} von {pages}",
        "draft": "Entwurf",
        "voided": "Storniert",
        "minimum_commitment": "Mindestabnahme",
        "true_up": "Ausgleich auf Mindestumsatz",
    },
    "es": {
        "invoice": "Factura",
        "invoice_number": "Número de factura",
        "issuing_date": "Fecha de emisión",
        "payment_due_date": "Fecha de vencimiento",
        "seller": "Emisor",
        "buyer": "Facturar a",
        "tax_id": "NIF",
        "legal_number": "N.º de registro",
        "description": "Descripción",
        "units": "Unidades",
        "unit_price": "Precio unitario",
        "amount": "Importe",
        "billing_period": "Período de facturación",
        "usage_period": "Período de consumo",
        "other_items": "Otros conceptos",
        "coupon": "Cupón",
        "coupons": "Cupones",
        "sub_total_excluding_taxes": "Subtotal (sin impuestos)",
        "tax": "Impuestos",
        "tax_on": "{name} ({rate}) sobre {base}",
        "sub_total_including_taxes": "Subtotal (con impuestos)",
        "progressive_billing_credit": "Consumo ya facturado",
        "credit_notes": "Notas de crédito",
        "prepaid_credits": "Créditos prepagados",
        "total": "Total a pagar",
        "payment_terms_days": "Condiciones de pago: vence en {days} días",
        "payment_terms_day": "Condiciones de pago: vence en 1 día",
        "payment_terms_receipt": "Condiciones de pago: a la recepción",
        "page": "Página {page} de {pages}",
        "draft": "Borrador",
        "voided": "Anulada",
        "minimum_commitment": "Compromiso mínimo",
        "true_up": "ajuste al gasto mínimo",
    },
    "it": {
        "invoice": "Fattura",
        "invoice_number": "Numero fattura",
        "issuing_date": "Data di emissione",
        "payment_due_date": "Data di scadenza",
        "seller": "Emittente",
        "buyer": "Intestatario",
        "tax_id": "P. IVA",
        "legal_number": "N. registro imprese",
        "description": "Descrizione",
        "units": "Quantità",
        "unit_price": "Prezzo unitario",
        "amount": "Importo",
        "billing_period": "Periodo di fatturazione",
        "usage_period": "Periodo di utilizzo",
        "other_items": "Altre voci",
        "coupon": "Coupon",
        "coupons": "Coupon",
        "sub_total_excluding_taxes": "Subtotale (IVA esclusa)",
        "tax": "IVA",
        "tax_on": "{name} ({rate}) su {base}",
        "sub_total_including_taxes": "Subtotale (IVA inclusa)",
        "progressive_billing_credit": "Utilizzo già fatturato",
        "credit_notes": "Note di credito",
        "prepaid_credits": "Crediti prepagati",
        "total": "Totale da pagare",
        "payment_terms_days": "Termini di pagamento: entro {days} giorni",
        "payment_terms_day": "Termini di pagamento: entro 1 giorno",
        "payment_terms_receipt": "Termini di pagamento: al ricevimento",
        "page": "Pagina {page} di {pages}",
        "draft": "Bozza",
        "voided": "Annullata",
        "minimum_commitment": "Impegno minimo",
        "true_up": "adeguamento alla spesa minima",
    },
    "nb": {
        "invoice": "Faktura",
        "invoice_number": "Fakturanummer",
        "issuing_date": "Fakturadato",
        "payment_due_date": "Forfallsdato",
        "seller": "Fra",
        "buyer": "Faktureres til",
        "tax_id": "MVA-nr.",
        "legal_number": "Org.nr.",
        "description": "Beskrivelse",
        "units": "Antall",
        "unit_price": "Enhetspris",
        "amount": "Beløp",
        "billing_period": "Faktureringsperiode",
        "usage_period": "Forbruksperiode",
        "other_items": "Andre poster",
        "coupon": "Kupong",
        "coupons": "Kuponger",
        "sub_total_excluding_taxes": "Delsum (eks. mva.)",
        "tax": "MVA",
        "tax_on": "{name} ({rate}) av {base}",
        "sub_total_including_taxes": "Delsum (inkl. mva.)",
        "progressive_billing_credit": "Allerede fakturert forbruk",
        "credit_notes": "Kreditnotaer",
        "prepaid_credits": "Forhåndsbetalt kreditt",
        "total": "Å betale",
        "payment_terms_days": "Betalingsbetingelser: forfaller om {days} dager",
        "payment_terms_day": "Betalingsbetingelser: forfaller om 1 dag",
        "payment_terms_receipt": "Betalingsbetingelser: ved mottak",
        "page": "Side {page} av {pages}",
        "draft": "Utkast",
        "voided": "Annullert",
        "minimum_commitment": "Minimumsforpliktelse",
        "true_up": "justering til minstebeløp",
    },
    "sv": {
        "invoice": "Faktura",
        "invoice_number": "Fakturanummer",
        "issuing_date": "Fakturadatum",
        "payment_due_date": "Förfallodatum",
        "seller": "Från",
        "buyer": "Faktureras till",
        "tax_id": "Momsreg.nr",
        "legal_number": "Org.nr",
        "description": "Beskrivning",
        "units": "Antal",
        "unit_price": "Styckpris",
        "amount": "Belopp",
        "billing_period": "Faktureringsperiod",
        "usage_period": "Förbrukningsperiod",
        "other_items": "Övriga poster",
        "coupon": "Kupong",
        "coupons": "Kuponger",
        "sub_total_excluding_taxes": "Delsumma (exkl. moms)",
        "tax": "Moms",
        "tax_on": "{name} ({rate}) på {base}",
        "sub_total_including_taxes": "Delsumma (inkl. moms)",
        "progressive_billing_credit": "Redan fakturerad förbrukning",
        "credit_notes": "Kreditnotor",
        "prepaid_credits": "Förbetalda krediter",
        "total": "Att betala",
        "payment_terms_days": "Betalningsvillkor: förfaller inom {days} dagar",
        "payment_terms_day": "Betalningsvillkor: förfaller inom 1 dag",
        "payment_terms_receipt": "Betalningsvillkor: vid mottagandet",
        "page": "Sida {page} av {pages}",
        "draft": "Utkast",
        "voided": "Makulerad",
        "minimum_commitment": "Minimiåtagande",
        "true_up": "justering till minimibelopp",
    },
}

SUPPORTED_LOCALES: tuple[str, ...] = tuple(LABELS)


def normalize_locale(value: str | None) -> str:
    """A supported locale for a stored document locale ("fr", "fr-CA", "de_DE", "NB"…); English otherwise.
    Norwegian "no"/"nn" print in Bokmål."""
    if not isinstance(value, str) or not value.strip():
        return DEFAULT_LOCALE
    language = value.strip().replace("_", "-").split("-")[0].lower()
    if language in ("no", "nn"):
        language = "nb"
    return language if language in LABELS else DEFAULT_LOCALE


def label(locale: str, key: str, **values) -> str:
    text = LABELS[normalize_locale(locale)][key]
    return text.format(**values) if values else text


def labelled(locale: str, text: str, value: str) -> str:
    """``Label: value`` — French puts a narrow no-break space before the colon (``Label : value``)."""
    colon = NNBSP + ":" if normalize_locale(locale) == "fr" else ":"
    return f"{text}{colon} {value}"


# --- numbers -----------------------------------------------------------------------------------------------------


def _group(digits: str, separator: str) -> str:
    head = len(digits) % 3 or 3
    parts = [digits[:head]] + [digits[i : i + 3] for i in range(head, len(digits), 3)]
    return separator.join(parts)


def format_decimal(value, locale: str, *, min_decimals: int = 0, max_decimals: int | None = None) -> str:
    """A decimal in the locale's separators, with at least ``min_decimals`` and at most ``max_decimals`` decimals
    (rounded half-up; trailing zeros past ``min_decimals`` are dropped)."""
    grouping, decimal_point = _SEPARATORS[normalize_locale(locale)]
    number = Decimal(str(value)) if not isinstance(value, Decimal) else value
    if max_decimals is not None:
        number = number.quantize(Decimal(1).scaleb(-max_decimals), rounding=ROUND_HALF_UP)
    negative = number < 0
    text = format(abs(number), "f")
    whole, _, fraction = text.partition(".")
    fraction = fraction.rstrip("0")
    if len(fraction) < min_decimals:
        fraction = fraction.ljust(min_decimals, "0")
    body = _group(whole.lstrip("0") or "0", grouping)
    if fraction:
        body = f"{body}{decimal_point}{fraction}"
    if negative and any(ch not in "0" for ch in whole + fraction):
        body = f"-{body}"
    return body


def format_units(value, locale: str) -> str:
    """Units as the fee counted them: no trailing zeros, at most 6 decimals (``1,500``, ``0.25``)."""
    return format_decimal(value, locale, min_decimals=0, max_decimals=6)


def format_percent(rate, locale: str) -> str:
    """A tax rate in percent (``20%``, ``5,5 %``)."""
    return _PERCENT[normalize_locale(locale)].format(format_decimal(rate, locale, max_decimals=4))


def _with_currency(body: str, currency: str, locale: str) -> str:
    symbol = CURRENCY_SYMBOLS.get(currency)
    negative = body.startswith("-")
    digits = body[1:] if negative else body
    if normalize_locale(locale) == "en":
        prefix = symbol if symbol else f"{currency}{NBSP}"
        text = f"{prefix}{digits}"
    else:
        text = f"{digits}{NBSP}{symbol or currency}"
    return f"-{text}" if negative else text


def format_money(amount_cents: int, currency: str, exponent: int, locale: str) -> str:
    """An amount in minor units, with exactly ``exponent`` decimals: 123456 EUR → ``€1,234.56`` / ``1 234,56 €``;
    1234 JPY → ``¥1,234``; 1234567 KWD → ``KWD 1,234.567``."""
    value = Decimal(int(amount_cents)).scaleb(-exponent)
    body = format_decimal(value, locale, min_decimals=exponent, max_decimals=exponent)
    return _with_currency(body, currency, locale)


def format_unit_price(amount, currency: str, exponent: int, locale: str) -> str:
    """A unit price in major units: the currency's decimals at least, up to 6 more for tiny prices
    (``€0.0002``), never rounded to zero when it is not."""
    body = format_decimal(Decimal(str(amount)), locale, min_decimals=exponent, max_decimals=max(exponent, 6))
    return _with_currency(body, currency, locale)


# --- dates -------------------------------------------------------------------------------------------------------


def format_date(value: dt.date, locale: str) -> str:
    locale = normalize_locale(locale)
    day = str(value.day)
    if locale == "fr" and value.day == 1:
        day = "1er"
    return _DATE_PATTERNS[locale].format(day=day, month=_MONTHS[locale][value.month - 1], year=value.year)


def format_period(start: dt.date, end: dt.date, locale: str) -> str:
    return f"{format_date(start, locale)} – {format_date(end, locale)}"
