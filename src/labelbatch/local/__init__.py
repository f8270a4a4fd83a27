"""The local stack: the real template, state machine and function code on emulated AWS services.

Nothing in this package is deployed to AWS; it runs on the operator's or the developer's machine.
"""
