"""Operating a labelbatch stack, deployed or local: each operation takes a `Stack` (a boto3 session and the
stack outputs, see target.py) and answers plain data (TypedDicts, JSON as they are); it never prints. The
`labelbatch` command renders the answers (cli.py); docs/OPERATIONS.md is the runbook.
"""
