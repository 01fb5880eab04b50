"""Extensions: one module per type (``health_check``, ``file_storage``); enabled in ``service::extensions``."""
