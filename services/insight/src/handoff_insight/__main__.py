"""`python -m handoff_insight`: run the insight service."""

from handoff.runtime import run_service
from handoff_insight.app import create_app
from handoff_insight.settings import SERVICE, InsightSettings

if __name__ == "__main__":
    run_service(SERVICE, InsightSettings, create_app)
