"""Customer-churn model: a reproducible pipeline, a PR report, and three ways to deliver it.

Importing the package does nothing observable; each stage lives in its own module.
"""

__version__ = "0.1.0"
