"""How long a pull-request comment may be: one number for the report's renderer (which cuts the
report to fit) and for the comment workflow's artifact check (which refuses what does not fit).

Standard library only and free of imports: `churn.release.pr_artifact` runs without the
project's dependencies installed.
"""

# GitHub refuses comment bodies longer than 65,536 characters; CML adds a watermark of its own,
# for which 512 characters are kept free.
MAX_COMMENT_CHARS = 65_536 - 512
