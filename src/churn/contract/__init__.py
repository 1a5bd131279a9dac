"""The data contract: `contract.yaml` read into typed objects (`spec`), and the one set of rules
that files, requests and the embedded wheel are all checked by (`rules`, applied at C speed by
`text` for files and `values` for requests), the id parser (`ids`) and the derived blanks
(`derive`, `complete`). `table` works on whole pandas tables.

Relative imports only, and nothing heavier than NumPy and PyYAML outside `table` and `text`'s
PyArrow path: `churn wheel` copies this package into the embedded model's wheel.
"""

from .rules import DataValidationError
from .spec import Contract, ContractError, load

__all__ = ["Contract", "ContractError", "DataValidationError", "load"]
