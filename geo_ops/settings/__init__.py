"""Settings are split by environment: base, local (the default), test and production.

Pick one with DJANGO_SETTINGS_MODULE; every value that differs between machines comes from the
environment (see base.py).
"""
