"""netflow: surveillance reminders after resection of a neuroendocrine tumour."""

__version__ = "0.1.0"
