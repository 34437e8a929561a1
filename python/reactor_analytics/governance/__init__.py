"""Governance: GDPR erasure, retention, the monthly org quota and per-IP rate limits."""
