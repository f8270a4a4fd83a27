"""The batch run's states grouped as the README's steps ("How it works", 1-4): the one table that maps a
state to its step.

The definition (statemachine/batch_run.asl.json) names the states; this table must list every one of them
(tests/ops checks it both ways), so that a renamed or added state fails a test instead of being mis-grouped.
"""

from __future__ import annotations

from typing import Final

STEP_TITLES: Final = {
    1: "Acquire the run lock",
    2: "Count the backlog",
    3: "Poll: start the model, enable the consumer",
    4: "Switch off, release the lock, summarize",
}

STEP_OF_STATE: Final = {
    "Load Settings": 1,
    "Acquire Run Lock": 1,
    "Skip Overlapping Run": 1,
    # The Parallel state holds steps 2 and 3; it is entered just before the first Count Backlog.
    "Process Waiting Images": 2,
    "Count Backlog": 2,
    "Any Images Waiting?": 2,
    "Look For Test Events": 2,
    "Remove Test Events": 2,
    "Test Event?": 2,
    "Delete Test Event": 2,
    "Not A Test Event": 2,
    "Check Model": 3,
    "Check Consumer": 3,
    "What Next?": 3,
    "Mark Model Started By Run": 3,
    "Start Model": 3,
    "Record Model Running": 3,
    "Enable Consumer": 3,
    "Wait For Next Poll": 3,
    # Step 4 follows the batch's end and every named failure alike.
    "Batch Done": 4,
    "Model Not Usable": 4,
    "Model Start Failed": 4,
    "Model Start Timed Out": 4,
    "Model Stopped During Run": 4,
    "Consumer Not Enabled": 4,
    "Run Timed Out": 4,
    "Anything To Switch Off?": 4,
    "Read Start Marker": 4,
    "Check Model Before Stopping": 4,
    "Stop Model?": 4,
    "Stop Model": 4,
    "Wait To Stop Again": 4,
    "Stop Refused Too Long": 4,
    "Clear Start Marker": 4,
    "Disable Consumer": 4,
    "Wait For Consumer To Stop": 4,
    "Check Consumer Stopped": 4,
    "Consumer Stopped?": 4,
    "Consumer Not Disabled": 4,
    "Release Run Lock": 4,
    "Run Failed?": 4,
    "Run Failed": 4,
    "Switch-Off Failed": 4,
    "Summarize Run": 4,
}
