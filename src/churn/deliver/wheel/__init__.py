"""Embedded: `churn wheel` builds an installable package with the model inside (`build`), from
the package template in `template/`."""
