"""The winning recipe as a workflow: per-category runs, merging, ensembling, reports."""
