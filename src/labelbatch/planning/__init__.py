"""Cost planning: a month of uploads simulated against the policies that start and stop the model.

Pure Python and fast (a month in well under a second): `labelbatch plan` and bench/cost_policy.py run the
same simulation. Nothing here imports the local stack, boto3 or matplotlib.
"""
