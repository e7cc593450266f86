"""Invoicing: invoices, fees, credit notes, numbering, invoice totals and documents."""
