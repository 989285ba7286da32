"""Routes: dag_runs (to be written)."""

from fastapi import APIRouter

router = APIRouter()
