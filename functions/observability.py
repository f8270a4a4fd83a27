"""Powertools logger, tracer and metrics, created once per execution environment and shared by every function.

They read POWERTOOLS_SERVICE_NAME and POWERTOOLS_METRICS_NAMESPACE on first import: Lambda sets them before
any import, and anything that imports a handler in-process (the local stack, tests) must set them first too.
"""

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
tracer = Tracer()
metrics = Metrics()
