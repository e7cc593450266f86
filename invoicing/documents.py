"""Invoice PDF documents: build the printable `InvoiceDocument` from a stored invoice, render it, store it.

* What the document shows about the seller and the buyer (names, addresses, tax ids, locale, footer) comes from the
  invoice's ``document_snapshot`` (copied at finalization) so later edits of the organization or the customer never
  change an issued invoice; a draft, which has no snapshot yet, reads them live.
* Locale: snapshot ``locale`` (= customer.document_locale → organization.document_locale → en), normalized to one
  of `invoicing.locales.SUPPORTED_LOCALES` (anything else prints in English).
* Storage: Django's default storage under ``invoices/<random token>/<number>.pdf``; the token (32 random bytes)
  makes the URL unguessable. `generate_invoice_pdf` is idempotent: once an invoice has its file it is never
  rendered again (a finalized invoice is a document).
* Served by `invoicing.urls_documents` at ``/documents/invoices/<token>/<number>.pdf``; `file_url` makes that
  absolute with ``settings.PUBLIC_URL`` when set, else the request's host, else ``http://127.0.0.1:8000``.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.urls import reverse

from config import errors
from config.money import currency_exponent
from invoicing import locales
from invoicing.models import Fee, FeeType, Invoice, InvoiceStatus
from invoicing.numbering import draft_number
from invoicing.pdf import FeeGroup, FeeLine, InvoiceDocument, Party, TaxLine, render_invoice
from invoicing.services.documents import document_snapshot

DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"
# Invoices that are documents (numbered); drafts, failed and pending invoices have none.
DOCUMENT_STATUSES = (InvoiceStatus.FINALIZED, InvoiceStatus.VOIDED)
FILE_PREFIX = "invoices"
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,100}$")
_FILENAME = re.compile(r"^[A-Za-z0-9._-]{1,200}\.pdf$")
_FEE_ORDER = {
    FeeType.SUBSCRIPTION: 0,
    FeeType.FIXED_CHARGE: 1,
    FeeType.CHARGE: 2,
    FeeType.COMMITMENT: 3,
    FeeType.ADD_ON: 4,
    FeeType.CREDIT: 5,
}


# --- snapshot → parties ------------------------------------------------------------------------------------------


def _snapshot(invoice: Invoice) -> dict:
    if invoice.document_snapshot:
        return invoice.document_snapshot
    return document_snapshot(
        organization=invoice.organization, customer=invoice.customer, currency=invoice.currency
    )


def _address_lines(address: dict | None) -> tuple[str, ...]:
    address = address or {}
    city = " ".join(part for part in (address.get("zipcode"), address.get("city")) if part)
    lines = (address.get("address_line1"), address.get("address_line2"), city, address.get("state"),
             address.get("country"))  # fmt: skip
    return tuple(line.strip() for line in lines if line and line.strip())


def _seller(seller: dict) -> Party:
    return Party(
        name=seller.get("legal_name") or seller.get("name") or "",
        legal_name=None,
        address_lines=_address_lines(seller.get("address")),
        tax_identification_number=seller.get("tax_identification_number"),
        legal_number=seller.get("legal_number"),
        email=seller.get("email"),
    )


def _buyer(buyer: dict) -> Party:
    person = " ".join(part for part in (buyer.get("firstname"), buyer.get("lastname")) if part)
    name = buyer.get("name") or person or buyer.get("legal_name") or buyer.get("external_id") or ""
    return Party(
        name=name,
        legal_name=buyer.get("legal_name"),
        address_lines=_address_lines(buyer.get("address")),
        tax_identification_number=buyer.get("tax_identification_number"),
        legal_number=buyer.get("legal_number"),
        email=buyer.get("email"),
        extra_lines=tuple(
            f"{item.get('key')}: {item.get('value')}"
            for item in buyer.get("metadata") or []
            if item.get("key")
        ),
    )


# --- fees → lines ------------------------------------------------------------------------------------------------


def _local_date(value, timezone: ZoneInfo, *, end: bool = False) -> dt.date | None:
    """A stored instant (datetime or ISO text) as a day in the customer's timezone."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(timezone).date()
    return value if isinstance(value, dt.date) else None


def _fee_period(fee: Fee, timezone: ZoneInfo) -> tuple[str, dt.date, dt.date] | None:
    props = fee.properties or {}
    if fee.fee_type == FeeType.CHARGE:
        key, start, end = "usage_period", props.get("charges_from_datetime"), props.get("charges_to_datetime")
    elif fee.fee_type == FeeType.FIXED_CHARGE:
        key = "billing_period"
        start = props.get("fixed_charges_from_datetime") or props.get("from_datetime")
        end = props.get("fixed_charges_to_datetime") or props.get("to_datetime")
    else:
        key, start, end = "billing_period", props.get("from_datetime"), props.get("to_datetime")
    start, end = _local_date(start, timezone), _local_date(end, timezone)
    return (key, start, end) if start and end else None


def _fee_name(fee: Fee, locale: str) -> str:
    if fee.fee_type == FeeType.CHARGE and fee.charge_id:
        return fee.invoice_display_name or fee.charge.invoice_display_name or fee.charge.billable_metric.name
    if fee.fee_type == FeeType.FIXED_CHARGE and fee.fixed_charge_id:
        fixed = fee.fixed_charge
        return (
            fee.invoice_display_name
            or fixed.invoice_display_name
            or fixed.add_on.invoice_display_name
            or (fixed.add_on.name)
        )
    if fee.fee_type == FeeType.ADD_ON and fee.add_on_id:
        return fee.invoice_display_name or fee.add_on.invoice_display_name or fee.add_on.name
    if fee.fee_type == FeeType.CREDIT:
        return fee.invoice_display_name or locales.label(locale, "prepaid_credits")
    if fee.fee_type == FeeType.COMMITMENT:
        commitment = (
            getattr(fee.subscription.plan, "minimum_commitment", None) if fee.subscription_id else None
        )
        return (
            fee.invoice_display_name
            or (commitment.invoice_display_name if commitment else None)
            or locales.label(locale, "minimum_commitment")
        )
    if fee.subscription_id:
        plan = fee.subscription.plan
        return fee.invoice_display_name or plan.invoice_display_name or plan.name
    return fee.invoice_display_name or fee.description or fee.fee_type


def _filter_text(fee: Fee) -> str | None:
    if not fee.charge_filter_id:
        return None
    charge_filter = fee.charge_filter
    if charge_filter.invoice_display_name:
        return charge_filter.invoice_display_name
    values = charge_filter.values or {}
    parts = [f"{key}: {', '.join(map(str, v)) if isinstance(v, list) else v}" for key, v in values.items()]
    return " • ".join(parts) or None


def _grouped_text(fee: Fee) -> str | None:
    values = [str(value) for value in (fee.grouped_by or {}).values() if value not in (None, "")]
    return " • ".join(values) or None


def _unit_price(fee: Fee, exponent: int) -> Decimal:
    price = Decimal(fee.precise_unit_amount)
    units = Decimal(fee.units)
    if price == 0 and units and fee.amount_cents:
        price = Decimal(fee.precise_amount_cents or fee.amount_cents).scaleb(-exponent) / units
    return price


def _fee_line(
    fee: Fee, *, locale: str, exponent: int, timezone: ZoneInfo, group_periods: dict[str, tuple]
) -> FeeLine:
    name = _fee_name(fee, locale)
    if fee.true_up_parent_fee_id:
        name = f"{name} ({locales.label(locale, 'true_up')})"
    details = [text for text in (_filter_text(fee), _grouped_text(fee)) if text]
    if fee.description and fee.description != name:
        details.append(fee.description)
    period = _fee_period(fee, timezone)
    if period is not None and group_periods.get(period[0]) != period[1:]:
        key, start, end = period
        details.append(
            locales.labelled(locale, locales.label(locale, key), locales.format_period(start, end, locale))
        )
    return FeeLine(
        description=name,
        details=tuple(details),
        units=Decimal(fee.units),
        unit_price=_unit_price(fee, exponent),
        amount_cents=fee.amount_cents,
    )


def _ordered(fees: list[Fee]) -> list[Fee]:
    """Plan fee, fixed charges, charges (each true-up right after the fee it trues up), commitment, others."""
    by_parent: dict = {}
    roots = []
    for fee in fees:
        if fee.true_up_parent_fee_id:
            by_parent.setdefault(fee.true_up_parent_fee_id, []).append(fee)
        else:
            roots.append(fee)
    ids = {fee.pk for fee in roots}
    roots += [fee for parent, children in by_parent.items() if parent not in ids for fee in children]
    roots.sort(key=lambda fee: (_FEE_ORDER.get(fee.fee_type, 9), fee.created_at, str(fee.pk)))
    ordered = []
    for fee in roots:
        ordered.append(fee)
        if fee.true_up_parent_fee_id is None:
            ordered.extend(by_parent.get(fee.pk, []))
    return ordered


def _groups(invoice: Invoice, *, locale: str, exponent: int, timezone: ZoneInfo) -> tuple[FeeGroup, ...]:
    fees = list(
        Fee.objects.filter(invoice=invoice, deleted_at__isnull=True).select_related(
            "charge__billable_metric",
            "charge_filter",
            "add_on",
            "fixed_charge__add_on",
            "subscription__plan",
        )
    )
    periods = {}
    for period in invoice.invoice_subscriptions.select_related("subscription__plan").order_by(
        "created_at", "id"
    ):
        periods.setdefault(period.subscription_id, period)
    subscription_ids = list(periods)
    subscription_ids += [
        fee.subscription_id for fee in fees if fee.subscription_id and fee.subscription_id not in periods
    ]
    subscription_ids = list(dict.fromkeys(subscription_ids))
    groups = []
    for subscription_id in subscription_ids:
        own = [fee for fee in fees if fee.subscription_id == subscription_id]
        period = periods.get(subscription_id)
        subscription = period.subscription if period else own[0].subscription
        plan = subscription.plan
        group_periods: dict[str, tuple] = {}
        if period is not None:
            billing = (_local_date(period.from_datetime, timezone), _local_date(period.to_datetime, timezone))
            usage = (
                _local_date(period.charges_from_datetime, timezone),
                _local_date(period.charges_to_datetime, timezone),
            )
            if all(billing):
                group_periods["billing_period"] = billing
            if all(usage):
                group_periods["usage_period"] = usage
            if group_periods.get("usage_period") == group_periods.get("billing_period"):
                group_periods.pop("usage_period", None)
        shown = tuple((key, *dates) for key, dates in group_periods.items())
        if "usage_period" not in group_periods and "billing_period" in group_periods:
            group_periods["usage_period"] = group_periods["billing_period"]
        lines = tuple(
            _fee_line(fee, locale=locale, exponent=exponent, timezone=timezone, group_periods=group_periods)
            for fee in _ordered(own)
        )
        title = subscription.name or plan.invoice_display_name or plan.name
        groups.append(FeeGroup(title=title, periods=shown, lines=lines))
    loose = [fee for fee in fees if not fee.subscription_id]
    if loose:
        lines = tuple(
            _fee_line(fee, locale=locale, exponent=exponent, timezone=timezone, group_periods={})
            for fee in _ordered(loose)
        )
        groups.append(FeeGroup(title=None, lines=lines))
    return tuple(groups)


def _coupons(invoice: Invoice) -> tuple[tuple[str, int], ...]:
    credits = [
        credit
        for credit in invoice.credits.select_related("applied_coupon__coupon").order_by("created_at", "id")
        if credit.applied_coupon_id and credit.amount_cents
    ]
    lines = tuple((credit.applied_coupon.coupon.name, credit.amount_cents) for credit in credits)
    if sum(amount for _, amount in lines) != invoice.coupons_amount_cents:
        # Coupons not (or not all) itemized as credits: one line with the invoice's total.
        return (
            ((locales.label(_locale(invoice), "coupons"), invoice.coupons_amount_cents),)
            if (invoice.coupons_amount_cents)
            else ()
        )
    return lines


def _locale(invoice: Invoice) -> str:
    return locales.normalize_locale(_snapshot(invoice).get("locale"))


def invoice_document(invoice: Invoice) -> InvoiceDocument:
    """Everything the PDF prints, read from the invoice's own columns and its document snapshot."""
    snapshot = _snapshot(invoice)
    locale = locales.normalize_locale(snapshot.get("locale"))
    exponent = currency_exponent(invoice.currency)
    buyer = snapshot.get("buyer") or {}
    try:
        timezone = ZoneInfo(buyer.get("timezone") or invoice.customer.applicable_timezone)
    except (ValueError, KeyError):
        timezone = ZoneInfo("UTC")
    is_draft = invoice.status == InvoiceStatus.DRAFT
    taxes = sorted(
        invoice.applied_taxes.all(), key=lambda tax: (-Decimal(tax.tax_rate), tax.tax_name, tax.tax_code)
    )
    return InvoiceDocument(
        locale=locale,
        currency=invoice.currency,
        exponent=exponent,
        number=draft_number(invoice.organization) if is_draft or not invoice.number else invoice.number,
        issuing_date=invoice.issuing_date,
        payment_due_date=invoice.payment_due_date,
        net_payment_term=invoice.net_payment_term,
        seller=_seller(snapshot.get("seller") or {}),
        buyer=_buyer(buyer),
        groups=_groups(invoice, locale=locale, exponent=exponent, timezone=timezone),
        coupons=_coupons(invoice),
        sub_total_excluding_taxes_amount_cents=invoice.sub_total_excluding_taxes_amount_cents,
        taxes=tuple(
            TaxLine(
                name=tax.tax_name,
                rate=Decimal(tax.tax_rate),
                base_amount_cents=tax.taxable_base_amount_cents,
                amount_cents=tax.amount_cents,
            )
            for tax in taxes
        ),
        taxes_amount_cents=invoice.taxes_amount_cents,
        sub_total_including_taxes_amount_cents=invoice.sub_total_including_taxes_amount_cents,
        progressive_billing_credit_amount_cents=invoice.progressive_billing_credit_amount_cents,
        credit_notes_amount_cents=invoice.credit_notes_amount_cents,
        prepaid_credit_amount_cents=invoice.prepaid_credit_amount_cents,
        total_amount_cents=invoice.total_amount_cents,
        footer=(snapshot.get("seller") or {}).get("invoice_footer"),
        status=invoice.status,
    )


def render_invoice_pdf(invoice: Invoice) -> bytes:
    """The PDF bytes of an invoice, drafts included (stamped "Draft"); nothing is stored."""
    return render_invoice(invoice_document(invoice))


# --- storage -----------------------------------------------------------------------------------------------------


def _filename(number: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", number or "").strip("._") or "invoice"
    return f"{safe[:150]}.pdf"


@transaction.atomic
def generate_invoice_pdf(invoice: Invoice) -> str:
    """Render and store a finalized (or voided) invoice's PDF once; returns the stored file name
    (``invoices/<token>/<number>.pdf``). Idempotent: an invoice whose file exists is returned as is (a lost file
    is rendered again under the same name, so its URL keeps working). Drafts have no document: 405 ``is_draft``
    (Lago's GeneratePdfService); failed and pending invoices neither (405 ``invoice_not_finalized``)."""
    locked = (
        Invoice.objects.select_for_update(of=("self",))
        .select_related("organization", "customer")
        .get(pk=invoice.pk)
    )
    if locked.status == InvoiceStatus.DRAFT:
        raise errors.NotAllowed("is_draft")
    if locked.status not in DOCUMENT_STATUSES:
        raise errors.NotAllowed("invoice_not_finalized")
    storage = locked.file.storage
    if locked.file and storage.exists(locked.file.name):
        invoice.file = locked.file
        return locked.file.name
    name = locked.file.name or f"{FILE_PREFIX}/{secrets.token_urlsafe(32)}/{_filename(locked.number)}"
    stored = storage.save(name, ContentFile(render_invoice_pdf(locked)))
    locked.file.name = stored
    Invoice.objects.filter(pk=locked.pk).update(file=stored)
    invoice.file = stored
    return stored


def _split(name: str) -> tuple[str, str] | None:
    parts = (name or "").split("/")
    if len(parts) != 3 or parts[0] != FILE_PREFIX:
        return None
    return parts[1], parts[2]


def file_path(invoice: Invoice) -> str | None:
    """The site-relative path of the invoice's PDF (``/documents/invoices/<token>/<number>.pdf``), or None."""
    split = _split(invoice.file.name) if invoice.file else None
    if split is None:
        return None
    token, filename = split
    return reverse("invoice-document", kwargs={"token": token, "filename": filename})


def file_url(invoice: Invoice, request=None) -> str | None:
    """The absolute URL of the invoice's PDF, or None when it has not been generated."""
    path = file_path(invoice)
    if path is None:
        return None
    base = getattr(settings, "PUBLIC_URL", None)
    if base:
        return f"{base.rstrip('/')}{path}"
    if request is not None:
        return request.build_absolute_uri(path)
    return f"{DEFAULT_PUBLIC_URL}{path}"


def stored_document(token: str, filename: str) -> Invoice | None:
    """The invoice whose stored PDF is ``invoices/<token>/<filename>`` (None for anything else)."""
    if not _TOKEN.match(token or "") or not _FILENAME.match(filename or ""):
        return None
    return Invoice.objects.filter(file=f"{FILE_PREFIX}/{token}/{filename}").first()
