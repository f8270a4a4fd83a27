"""The model reaper: the scheduled backstop that stops a model a batch run started and then abandoned."""
