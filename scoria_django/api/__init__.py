"""The DRF API: the only package that imports DRF and django-filter."""
