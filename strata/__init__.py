"""Strata's command line: the ``strata`` entry point and its report renderers."""
