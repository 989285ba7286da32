"""Routes: event_logs (to be written)."""

from fastapi import APIRouter

router = APIRouter()
