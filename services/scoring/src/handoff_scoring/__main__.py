"""`python -m handoff_scoring`: run the scoring service."""

from handoff.runtime import run_service
from handoff_scoring.app import create_app
from handoff_scoring.settings import SERVICE, ScoringSettings

if __name__ == "__main__":
    run_service(SERVICE, ScoringSettings, create_app)
