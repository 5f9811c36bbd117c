#!/usr/bin/env bash
# The SIGKILL resume test, longer: 100 kills (see test_ingest_resume.sh).
# ctest-labels: integration;slow
# ctest-timeout: 3600
CDX_RESUME_ITERATIONS="${CDX_RESUME_ITERATIONS:-100}" CDX_RESUME_SEED="${CDX_RESUME_SEED:-$$}" \
    exec bash "$(dirname "$0")/test_ingest_resume.sh"
